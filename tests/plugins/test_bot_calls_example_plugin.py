"""A Coze bot calling the example plugin server-side, as Coze does with an imported plugin: the official
cozepy client chats with the simulator, whose plugin bot calls the plugin over HTTP with the service token."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cozepy import ChatEventType, ChatStatus, Coze, Message, MessageType, TokenAuth

from cozegate.coze.simulator import BotConfig, SimulatorConfig, create_simulator_app, load_simulator_config
from tests.plugins.conftest import ORDERS_TOKEN as TOKEN
from tests.support.plugin_server import PluginServerProcess
from tests.support.server import REPO
from tests.support.sim_server import SimServer


def orders_bot(url: str, token: str) -> BotConfig:
    """`bot-orders` of the README's scenario file, pointed at this test's plugin server."""
    scenario = load_simulator_config(REPO / "examples" / "orders_plugin" / "sim-scenario.yaml")
    bot = next(b for b in scenario.bots if b.id == "bot-orders")
    assert bot.plugin is not None
    plugin = bot.plugin.model_copy(update={"url": f"{url}/plugins/orders/lookup_order", "service_token": token})
    return bot.model_copy(update={"plugin": plugin})


@pytest.fixture
def coze(orders_server: PluginServerProcess, request: pytest.FixtureRequest) -> Iterator[Coze]:
    token = getattr(request, "param", TOKEN)
    sim = SimServer(create_simulator_app(SimulatorConfig(bots=[orders_bot(orders_server.url, token)]))).start()
    try:
        yield Coze(auth=TokenAuth("test-token"), base_url=sim.url)
    finally:
        sim.stop()


def test_streaming_chat_answers_from_the_plugin(coze: Coze) -> None:
    question = Message.build_user_question_text("Where is my order A-1001?")
    events = list(coze.chat.stream(bot_id="bot-orders", user_id="u1", additional_messages=[question]))
    answer = "".join(e.message.content for e in events if e.event == ChatEventType.CONVERSATION_MESSAGE_DELTA)
    assert answer == "Order A-1001 is shipped; expected delivery 2026-11-27."
    completed = [e.message for e in events if e.event == ChatEventType.CONVERSATION_MESSAGE_COMPLETED]
    call = next(m for m in completed if m.type == MessageType.FUNCTION_CALL)
    assert json.loads(call.content) == {"name": "lookup_order", "arguments": {"order_id": "A-1001"}}
    response = next(m for m in completed if m.type == MessageType.TOOL_RESPONSE)
    assert json.loads(response.content)["items"][0]["sku"] == "TEA-200"


def test_a_tool_error_reaches_the_bot_as_readable_text(coze: Coze) -> None:
    chat = coze.chat.create_and_poll(
        bot_id="bot-orders", user_id="u1", additional_messages=[Message.build_user_question_text("Order Z-404?")]
    )
    assert chat.chat.status == ChatStatus.COMPLETED
    answers = [m.content for m in chat.messages or [] if m.type == MessageType.ANSWER]
    assert answers == ["Sorry, there is no order 'Z-404'; ask the customer to check the number"]


@pytest.mark.parametrize("coze", ["wrong-token"], indirect=True)
def test_a_plugin_refusing_coze_fails_the_chat(coze: Coze) -> None:
    chat = coze.chat.create_and_poll(
        bot_id="bot-orders", user_id="u1", additional_messages=[Message.build_user_question_text("A-1001")]
    )
    assert chat.chat.status == ChatStatus.FAILED
    assert chat.chat.last_error is not None
    assert "status=401" in chat.chat.last_error.msg


def test_a_plugin_bot_must_name_its_plugin() -> None:
    with pytest.raises(ValueError, match="needs `plugin"):
        BotConfig(id="bot-x", kind="plugin")
