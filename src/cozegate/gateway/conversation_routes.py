"""``GET /v1/conversations/{id}/messages``: a conversation's transcript (question and answer lines).

Guarded by the admin token until JWT auth with tenant-scoped tokens lands (gateway issue).
"""

from __future__ import annotations

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cozegate.conversations.store import ConversationStore
from cozegate.gateway.admin_auth import AdminAuthError, admin_actor
from cozegate.gateway.errors import error_response
from cozegate.tenants import DEFAULT_TENANT


def conversation_routes(store: ConversationStore, admin_token: SecretStr | None) -> list[Route]:
    async def messages(request: Request) -> Response:
        rid = str(request.scope.get("state", {}).get("request_id", ""))
        try:
            admin_actor(request, admin_token)
        except AdminAuthError as exc:
            return error_response(401, "unauthorized", exc.message, rid, headers={"www-authenticate": "Bearer"})
        q = request.query_params
        try:
            after_id = int(q.get("after_id", "0"))
            limit = int(q.get("limit", "100"))
        except ValueError:
            return error_response(400, "bad_request", "after_id and limit are integers", rid)
        if not 1 <= limit <= 500:
            return error_response(400, "bad_request", "limit must be between 1 and 500", rid)
        items = await store.transcript(
            q.get("tenant", DEFAULT_TENANT), request.path_params["conversation_id"], after_id=after_id, limit=limit
        )
        return JSONResponse({"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None})

    return [Route("/v1/conversations/{conversation_id}/messages", messages, methods=["GET"])]
