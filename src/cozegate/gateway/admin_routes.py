"""``/admin/*``: dead letters (list, show, replay, discard) and inbox status."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cozegate.gateway.admin_auth import AdminHandler, Authenticator, Endpoint, admin_endpoint
from cozegate.http.request_context import request_id_of
from cozegate.inbox import Inbox, WorkerPool
from cozegate.inbox.dead_letters import DeadLetters


def admin_routes(dead_letters: DeadLetters, inbox: Inbox, workers: WorkerPool, auth: Authenticator) -> list[Route]:
    def guarded(handler: AdminHandler) -> Endpoint:
        return admin_endpoint(handler, auth)

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
            request_id=request_id_of(request),
        )
        next_after = items[-1].id if len(items) == limit else None
        return JSONResponse({"items": [e.summary() for e in items], "next_after_id": next_after})

    async def show_dead(request: Request, actor: str) -> Response:
        event = await dead_letters.show(_event_id(request), actor=actor, request_id=request_id_of(request))
        return JSONResponse(event.detail())

    async def replay_dead(request: Request, actor: str) -> Response:
        event = await dead_letters.replay(_event_id(request), actor=actor, request_id=request_id_of(request))
        workers.wake()
        return JSONResponse({"status": "replayed", "id": event.id})

    async def discard_dead(request: Request, actor: str) -> Response:
        event = await dead_letters.discard(_event_id(request), actor=actor, request_id=request_id_of(request))
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
