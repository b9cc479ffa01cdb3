"""Admin API of the bot lifecycle and its health incidents (every change audited).

- ``GET /admin/bots`` · ``GET /admin/bots/{name}`` (with its open incident) · ``GET /admin/bots/{name}/history``
- ``PUT /admin/bots/{name}`` ``{tenant, recovery?, fallback_reply?}``: create (``pending``) or change recovery
- ``POST /admin/bots/{name}/deploy`` ``{version, coze_bot_id, connectors?}`` · ``.../scale`` ``{replicas}`` ·
  ``.../terminate``: 202 with the bot in its transitional state (or 200 when nothing had to change)
- ``GET /admin/incidents?open=true``
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cozegate.compliance import AuditLog
from cozegate.gateway.admin_auth import Authenticator, admin_endpoint
from cozegate.health.incidents import IncidentStore
from cozegate.http.errors import error_response, field_problem
from cozegate.http.request_context import request_id_of
from cozegate.lifecycle import (
    BotRecord,
    ConcurrentChangeError,
    IllegalTransitionError,
    LifecycleManager,
    Recovery,
    Release,
)
from cozegate.lifecycle.model import API_CONNECTOR, DEFAULT_FALLBACK
from cozegate.tenants.live import LiveTenants
from cozegate.tenants.model import TENANT_NAME_PATTERN

BOT_NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class BotDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(pattern=TENANT_NAME_PATTERN)
    recovery: Recovery = Recovery.CIRCUIT_BREAK
    fallback_reply: str = Field(DEFAULT_FALLBACK, min_length=1, max_length=2000)


class DeployRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    coze_bot_id: str = Field(min_length=1, max_length=64)
    connectors: list[str] = Field(default_factory=lambda: [API_CONNECTOR], min_length=1, max_length=16)


class ScaleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replicas: int = Field(ge=0, le=1000)


async def _body(request: Request, model: type[BaseModel]) -> Any:
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        details = [field_problem(e) for e in exc.errors(include_url=False, include_input=False)]
        raise _BadBody(details) from None


class _BadBody(Exception):
    def __init__(self, details: list[dict[str, str]]) -> None:
        self.details = details


def bot_routes(
    manager: LifecycleManager,
    incidents: IncidentStore,
    audit: AuditLog,
    auth: Authenticator,
    tenants: LiveTenants,
) -> list[Route]:
    def name_of(request: Request) -> str:
        name = str(request.path_params["name"])
        if not re.match(BOT_NAME, name):
            raise ValueError(f"bot name {name!r} must match {BOT_NAME}")
        return name

    async def answer(
        request: Request, actor: str, action: str, before: BotRecord | None, after: BotRecord, details: dict[str, Any]
    ) -> Response:
        changed = before is None or after.revision != before.revision
        if changed:
            await audit.record(
                actor=actor,
                action=action,
                tenant=after.tenant,
                target=after.name,
                request_id=request_id_of(request),
                details=details,
            )
        status = 202 if changed and after.deadline_at is not None else 200
        return JSONResponse({"bot": after.to_json(), "changed": changed}, status_code=status)

    def guarded(handler: Any) -> Any:
        async def call(request: Request, actor: str) -> Response:
            rid = request_id_of(request)
            try:
                return await handler(request, actor)  # type: ignore[no-any-return]
            except _BadBody as exc:
                return error_response(400, "invalid_arguments", "the body does not match", rid, details=exc.details)
            except IllegalTransitionError as exc:
                return error_response(409, exc.code, str(exc), rid)
            except ConcurrentChangeError as exc:
                return error_response(409, exc.code, str(exc), rid)

        return admin_endpoint(call, auth)

    async def list_bots(request: Request, actor: str) -> Response:
        bots = await manager.store.all(request.query_params.get("tenant"))
        return JSONResponse({"bots": [b.to_json() for b in bots]})

    async def show(request: Request, actor: str) -> Response:
        bot = await manager.require(name_of(request))
        incident = await incidents.open_for(bot.name)
        return JSONResponse({"bot": bot.to_json(), "incident": incident.to_json() if incident else None})

    async def history(request: Request, actor: str) -> Response:
        name = name_of(request)
        await manager.require(name)
        return JSONResponse({"history": [t.to_json() for t in await manager.store.history(name)]})

    async def define(request: Request, actor: str) -> Response:
        name = name_of(request)
        body: BotDefinition = await _body(request, BotDefinition)
        if tenants.current.bot(body.tenant) is None:
            raise _BadBody([{"field": "tenant", "problem": f"no tenant named {body.tenant!r} is configured"}])
        before = await manager.store.get(name)
        after = await manager.register(
            name, body.tenant, recovery=body.recovery, fallback_reply=body.fallback_reply, actor=actor
        )
        response = await answer(request, actor, "bot.define", before, after, body.model_dump(mode="json"))
        if before is None:
            response.status_code = 201
        return response

    async def deploy(request: Request, actor: str) -> Response:
        name = name_of(request)
        body: DeployRequest = await _body(request, DeployRequest)
        before = await manager.require(name)
        release = Release(body.version, body.coze_bot_id, tuple(body.connectors))
        after = await manager.deploy(name, release, actor=actor)
        return await answer(request, actor, "bot.deploy", before, after, body.model_dump())

    async def scale(request: Request, actor: str) -> Response:
        name = name_of(request)
        body: ScaleRequest = await _body(request, ScaleRequest)
        before = await manager.require(name)
        after = await manager.scale(name, body.replicas, actor=actor)
        return await answer(request, actor, "bot.scale", before, after, body.model_dump())

    async def terminate(request: Request, actor: str) -> Response:
        name = name_of(request)
        before = await manager.require(name)
        after = await manager.terminate(name, actor=actor)
        return await answer(request, actor, "bot.terminate", before, after, {})

    async def list_incidents(request: Request, actor: str) -> Response:
        only_open = request.query_params.get("open", "").lower() in ("1", "true", "yes")
        found = await incidents.recent(only_open=only_open, bot=request.query_params.get("bot"))
        return JSONResponse({"incidents": [i.to_json() for i in found]})

    return [
        Route("/admin/bots", guarded(list_bots), methods=["GET"]),
        Route("/admin/bots/{name}", guarded(show), methods=["GET"]),
        Route("/admin/bots/{name}", guarded(define), methods=["PUT"]),
        Route("/admin/bots/{name}/history", guarded(history), methods=["GET"]),
        Route("/admin/bots/{name}/deploy", guarded(deploy), methods=["POST"]),
        Route("/admin/bots/{name}/scale", guarded(scale), methods=["POST"]),
        Route("/admin/bots/{name}/terminate", guarded(terminate), methods=["POST"]),
        Route("/admin/incidents", guarded(list_incidents), methods=["GET"]),
    ]
