"""OAuth: the JWT-bearer token exchange (un-enveloped ``{access_token, expires_in, token_type}``).

Errors are un-enveloped too, ``{error_code, error_message}``: cozepy raises ``CozeAPIError`` with
``code=None`` and ``msg=error_message`` for them.
"""

from __future__ import annotations

from cozegate.coze.simulator.auth import OAuthError
from cozegate.coze.simulator.context import Simulator
from cozegate.coze.simulator.dispatch import CozeRequest, Endpoint, JsonReply, Reply


async def token(call: CozeRequest, sim: Simulator) -> Reply:
    try:
        issued = sim.auth.exchange_jwt(call.headers.get("authorization"), call.json, call.headers.get("host", ""))
    except OAuthError as exc:
        return JsonReply({"error_code": exc.error_code, "error_message": exc.message}, exc.status)
    return JsonReply({"access_token": issued.access_token, "expires_in": issued.expires_in, "token_type": "Bearer"})


ENDPOINTS = (
    Endpoint("oauth.token", "/api/permission/oauth2/token", ("POST",), token, auth=False),
    Endpoint("oauth.account_token", "/api/permission/oauth2/account/{account_id}/token", ("POST",), token, auth=False),
)
