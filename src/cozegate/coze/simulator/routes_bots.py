"""Bots: create, update, publish (version increments), unpublish, retrieve (v1 and v2), list (v1 and v2)."""

from __future__ import annotations

from cozegate.coze.simulator.config import API_CONNECTOR, BotConfig
from cozegate.coze.simulator.context import Simulator
from cozegate.coze.simulator.dispatch import CozeRequest, Endpoint, JsonReply, Reply
from cozegate.coze.simulator.envelopes import CozeCode, CozeError, bad_params, envelope
from cozegate.coze.simulator.records import BotRecord


def _page(call: CozeRequest, default_size: int = 20) -> tuple[int, int]:
    page, size = call.int_param("page_index", 1), call.int_param("page_size", default_size)
    if page < 1 or not 1 <= size <= 100:
        raise bad_params("page_index must be >= 1 and page_size 1..100")
    return page, size


def _in_space(sim: Simulator, space_id: str) -> list[BotRecord]:
    return sorted((b for b in sim.state.bots.values() if b.space_id == space_id), key=lambda b: b.id)


def _apply_changes(bot: BotRecord, call: CozeRequest, now: int) -> None:
    if isinstance(call.json.get("name"), str):
        bot.name = call.json["name"]
    if isinstance(call.json.get("description"), str):
        bot.description = call.json["description"]
    prompt_info = call.json.get("prompt_info")
    if isinstance(prompt_info, dict) and isinstance(prompt_info.get("prompt"), str):
        bot.prompt = prompt_info["prompt"]
    knowledge = call.json.get("knowledge")
    if isinstance(knowledge, dict) and isinstance(knowledge.get("dataset_ids"), list):
        bot.dataset_ids = [str(d) for d in knowledge["dataset_ids"]]
    bot.update_time = now


async def create_bot(call: CozeRequest, sim: Simulator) -> Reply:
    space_id, name = call.require_field("space_id"), call.require_field("name")
    config = BotConfig(id=sim.ids.next(), kind="echo", name=str(name), space_id=str(space_id), published=False)
    bot = sim.state.add_bot(config)
    _apply_changes(bot, call, sim.clock.now())
    return JsonReply(envelope({"bot_id": bot.id}))


async def update_bot(call: CozeRequest, sim: Simulator) -> Reply:
    bot = sim.state.bot(call.require_field("bot_id"))
    _apply_changes(bot, call, sim.clock.now())
    return JsonReply(envelope({}))


async def publish_bot(call: CozeRequest, sim: Simulator) -> Reply:
    bot = sim.state.bot(call.require_field("bot_id"))
    connector_ids = call.field("connector_ids", [API_CONNECTOR])
    if not isinstance(connector_ids, list) or not connector_ids:
        raise bad_params("connector_ids must be a non-empty list")
    bot.connectors.update(str(c) for c in connector_ids)
    bot.version += 1
    bot.update_time = sim.clock.now()
    return JsonReply(envelope({"bot_id": bot.id, "version": str(bot.version)}))


async def unpublish_bot(call: CozeRequest, sim: Simulator) -> Reply:
    bot = sim.state.bot(call.path_params["bot_id"])
    connector_id = str(call.require_field("connector_id"))
    bot.connectors.discard(connector_id)
    bot.update_time = sim.clock.now()
    return JsonReply(envelope({}))


async def retrieve_bot(call: CozeRequest, sim: Simulator) -> Reply:
    """v1 (``get_online_info``): the bot must be published to the API channel."""
    bot = sim.state.bot(call.require_param("bot_id"))
    if not bot.published:
        raise CozeError(CozeCode.BOT_NOT_PUBLISHED)
    return JsonReply(envelope(bot.to_coze(sim.config.user.user_id)))


async def retrieve_bot_v2(call: CozeRequest, sim: Simulator) -> Reply:
    """v2: the published version by default; ``is_published=false`` shows the draft of any bot."""
    bot = sim.state.bot(call.path_params["bot_id"])
    if call.param("is_published") != "false" and not bot.published:
        raise CozeError(CozeCode.BOT_NOT_PUBLISHED)
    return JsonReply(envelope(bot.to_coze(sim.config.user.user_id)))


async def list_bots(call: CozeRequest, sim: Simulator) -> Reply:
    """v1: the bots of a space that are published to the API channel."""
    page, size = _page(call)
    bots = [b for b in _in_space(sim, call.require_param("space_id")) if b.published]
    shown = bots[(page - 1) * size : page * size]
    return JsonReply(envelope({"space_bots": [b.to_list_v1() for b in shown], "total": len(bots)}))


async def list_bots_v2(call: CozeRequest, sim: Simulator) -> Reply:
    page, size = _page(call)
    status = call.param("publish_status") or "published_online"
    connector = call.param("connector_id")
    bots = _in_space(sim, call.require_param("workspace_id"))
    if status == "published_online":
        bots = [b for b in bots if b.published]
    elif status == "unpublished_draft":
        bots = [b for b in bots if not b.published]
    if connector:
        bots = [b for b in bots if connector in b.connectors]
    shown = bots[(page - 1) * size : page * size]
    owner = sim.config.user.user_id
    return JsonReply(envelope({"items": [b.to_list_v2(owner) for b in shown], "total": len(bots)}))


ENDPOINTS = (
    Endpoint("bots.create", "/v1/bot/create", ("POST",), create_bot),
    Endpoint("bots.update", "/v1/bot/update", ("POST",), update_bot),
    Endpoint("bots.publish", "/v1/bot/publish", ("POST",), publish_bot),
    Endpoint("bots.unpublish", "/v1/bots/{bot_id}/unpublish", ("POST",), unpublish_bot),
    Endpoint("bots.retrieve", "/v1/bot/get_online_info", ("GET",), retrieve_bot),
    Endpoint("bots.retrieve_v2", "/v1/bots/{bot_id}", ("GET",), retrieve_bot_v2),
    Endpoint("bots.list", "/v1/space/published_bots_list", ("GET",), list_bots),
    Endpoint("bots.list_v2", "/v1/bots", ("GET",), list_bots_v2),
)
