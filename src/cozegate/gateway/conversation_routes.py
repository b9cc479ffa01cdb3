"""``GET /v1/conversations/{id}/messages``: a conversation's transcript (question and answer lines).

Callers with the user role read their own tenant's conversations (``?tenant=``, default: the
token's tenant); admins read any.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cozegate.conversations.store import ConversationStore
from cozegate.gateway.admin_auth import Authenticator, tenant_allowed, user_endpoint
from cozegate.gateway.jwt_auth import Principal
from cozegate.tenants import DEFAULT_TENANT


def conversation_routes(store: ConversationStore, auth: Authenticator) -> list[Route]:
    async def messages(request: Request, principal: Principal) -> Response:
        q = request.query_params
        tenant = q.get("tenant") or principal.tenant or DEFAULT_TENANT
        tenant_allowed(principal, tenant)
        try:
            after_id = int(q.get("after_id", "0"))
            limit = int(q.get("limit", "100"))
        except ValueError:
            raise ValueError("after_id and limit are integers") from None
        if not 1 <= limit <= 500:
            raise ValueError("limit must be between 1 and 500")
        items = await store.transcript(tenant, request.path_params["conversation_id"], after_id=after_id, limit=limit)
        return JSONResponse({"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None})

    return [Route("/v1/conversations/{conversation_id}/messages", user_endpoint(messages, auth), methods=["GET"])]
