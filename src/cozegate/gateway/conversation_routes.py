"""``GET /v1/conversations/{id}/messages``: a conversation's transcript (question and answer lines).

Guarded by the admin token until JWT auth with tenant-scoped tokens lands (gateway issue).
"""

from __future__ import annotations

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cozegate.conversations.store import ConversationStore
from cozegate.gateway.admin_auth import admin_endpoint
from cozegate.tenants import DEFAULT_TENANT


def conversation_routes(store: ConversationStore, admin_token: SecretStr | None) -> list[Route]:
    async def messages(request: Request, _actor: str) -> Response:
        q = request.query_params
        try:
            after_id = int(q.get("after_id", "0"))
            limit = int(q.get("limit", "100"))
        except ValueError:
            raise ValueError("after_id and limit are integers") from None
        if not 1 <= limit <= 500:
            raise ValueError("limit must be between 1 and 500")
        items = await store.transcript(
            q.get("tenant", DEFAULT_TENANT), request.path_params["conversation_id"], after_id=after_id, limit=limit
        )
        return JSONResponse({"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None})

    return [
        Route("/v1/conversations/{conversation_id}/messages", admin_endpoint(messages, admin_token), methods=["GET"])
    ]
