"""``/admin/*``: dead letters (list, show, replay, discard) and inbox status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cozegate.gateway.admin_auth import AdminAuthError, admin_actor
from cozegate.gateway.errors import error_response
from cozegate.inbox import Inbox, WorkerPool
from cozegate.inbox.dead_letters import DeadLetterNotFoundError, DeadLetters

Endpoint = Callable[[Request], Awaitable[Response]]


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def admin_routes(
    dead_letters: DeadLetters, inbox: Inbox, workers: WorkerPool, admin_token: SecretStr | None
) -> list[Route]:
    def guarded(handler: Callable[[Request, str], Awaitable[Response]]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            rid = _request_id(request)
            try:
                actor = admin_actor(request, admin_token)
            except AdminAuthError as exc:
                return error_response(401, "unauthorized", exc.message, rid, headers={"www-authenticate": "Bearer"})
            try:
                return await handler(request, actor)
            except DeadLetterNotFoundError as exc:
                return error_response(404, "dead_letter_not_found", f"no dead letter with id {exc.args[0]}", rid)
            except ValueError as exc:
                return error_response(400, "bad_request", str(exc), rid)

        return endpoint

    def _event_id(request: Request) -> int:
        raw = request.path_params["event_id"]
        if not raw.isdigit():
            raise ValueError("a dead-letter id is a positive integer")
        return int(raw)

    async def list_dead(request: Request, actor: str) -> Response:
        q = request.query_params
        limit = int(q.get("limit", "50"))
        if not 1 <= limit <= 500:
            raise ValueError("limit must be between 1 and 500")
        items = await dead_letters.list(
            actor=actor,
            tenant=q.get("tenant"),
            after_id=int(q.get("after_id", "0")),
            limit=limit,
            request_id=_request_id(request),
        )
        next_after = items[-1].id if len(items) == limit else None
        return JSONResponse({"items": [e.summary() for e in items], "next_after_id": next_after})

    async def show_dead(request: Request, actor: str) -> Response:
        event = await dead_letters.show(_event_id(request), actor=actor, request_id=_request_id(request))
        return JSONResponse(event.detail())

    async def replay_dead(request: Request, actor: str) -> Response:
        event = await dead_letters.replay(_event_id(request), actor=actor, request_id=_request_id(request))
        workers.wake()
        return JSONResponse({"status": "replayed", "id": event.id})

    async def discard_dead(request: Request, actor: str) -> Response:
        event = await dead_letters.discard(_event_id(request), actor=actor, request_id=_request_id(request))
        return JSONResponse({"status": "discarded", "id": event.id})

    async def inbox_status(request: Request, actor: str) -> Response:
        depth = await inbox.refresh_depth()
        return JSONResponse({"depth": depth, "worker": {"owner": workers.owner, "in_flight": workers.in_flight}})

    return [
        Route("/admin/dead-letters", guarded(list_dead), methods=["GET"]),
        Route("/admin/dead-letters/{event_id}", guarded(show_dead), methods=["GET"]),
        Route("/admin/dead-letters/{event_id}/replay", guarded(replay_dead), methods=["POST"]),
        Route("/admin/dead-letters/{event_id}/discard", guarded(discard_dead), methods=["POST"]),
        Route("/admin/inbox", guarded(inbox_status), methods=["GET"]),
    ]
