"""Who may call what, over HTTP against a real server: JWTs from a JWKS on loopback next to the admin
token; 401 for an unproven caller, 403 for a missing role or another tenant, on every guarded endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Backend
from tests.support.inspect_db import audit_rows
from tests.support.jwks import AUDIENCE, ISSUER, JwksServer, SigningKey
from tests.support.server import ServerProcess

ADMIN_ENDPOINTS = [
    ("GET", "/admin/dead-letters"),
    ("GET", "/admin/dead-letters/1"),
    ("POST", "/admin/dead-letters/1/replay"),
    ("POST", "/admin/dead-letters/1/discard"),
    ("GET", "/admin/inbox"),
    ("POST", "/admin/privacy/export"),
    ("POST", "/admin/privacy/erase"),
    ("POST", "/admin/privacy/purge"),
    ("GET", "/admin/rollouts"),
]


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey("ES256")


@pytest.fixture
def server(backend: Backend, key: SigningKey) -> Iterator[ServerProcess]:
    jwks = JwksServer([key]).start()
    backend.default_tenant = {"workspace_ids": ["ws-1"]}
    env = backend.settings_env(
        COZEGATE_JWT_ISSUER=ISSUER, COZEGATE_JWT_AUDIENCE=AUDIENCE, COZEGATE_JWT_JWKS_URL=jwks.url
    )
    proc = ServerProcess(env, backend.tmp / "server.log").start()
    yield proc
    assert proc.stop(), proc.logs()
    jwks.stop()


def call(server: ServerProcess, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body = {"tenant": "default", "user_id": "nobody"} if "privacy" in path and "purge" not in path else None
    return httpx.request(method, server.url + path, headers=headers, json=body, timeout=10)


@pytest.mark.parametrize(("method", "path"), ADMIN_ENDPOINTS)
def test_admin_endpoints_need_a_proven_admin(server: ServerProcess, key: SigningKey, method: str, path: str) -> None:
    assert call(server, method, path, None).status_code == 401
    expired = call(server, method, path, key.token(tenant=None, roles=["admin"], exp=int(time.time()) - 600))
    assert (expired.status_code, expired.json()["error"]["code"]) == (401, "token_expired")
    user = call(server, method, path, key.token(roles=["user"]))
    assert (user.status_code, user.json()["error"]["code"]) == (403, "forbidden_role")
    tenant_admin = call(server, method, path, key.token(tenant="default", roles=["admin"]))
    assert (tenant_admin.status_code, tenant_admin.json()["error"]["code"]) == (403, "forbidden_role")
    admin = call(server, method, path, key.token(sub="ops-admin", tenant=None, roles=["admin"]))
    assert admin.status_code not in (401, 403), admin.text  # 200, or 404 for a dead letter that is not there


def test_admin_actions_are_audited_under_the_tokens_subject(
    server: ServerProcess, key: SigningKey, backend: Backend
) -> None:
    admin = key.token(sub="ops-admin", tenant=None, roles=["admin"])
    assert call(server, "POST", "/admin/privacy/export", admin).status_code == 200
    assert audit_rows(backend)[-1]["actor"] == "jwt:ops-admin"  # a subject can never pass for the admin token


def test_a_user_reads_only_their_own_tenants_conversations(server: ServerProcess, key: SigningKey) -> None:
    path = "/v1/conversations/c1/messages"
    own = call(server, "GET", path, key.token(tenant="default", roles=["user"]))
    assert own.status_code == 200, own.text
    other = call(server, "GET", path + "?tenant=default", key.token(tenant="acme", roles=["user"]))
    assert (other.status_code, other.json()["error"]["code"]) == (403, "forbidden_tenant")
    assert call(server, "GET", path + "?tenant=acme", key.token(tenant="acme", roles=["user"])).status_code == 200
    no_role = call(server, "GET", path, key.token(tenant="default", roles=[]))
    assert no_role.status_code == 403
    assert call(server, "GET", path + "?tenant=acme", key.token(tenant=None, roles=["admin"])).status_code == 200
    scoped_admin = call(server, "GET", path + "?tenant=acme", key.token(tenant="default", roles=["admin"]))
    assert (scoped_admin.status_code, scoped_admin.json()["error"]["code"]) == (403, "forbidden_tenant")
    assert call(server, "GET", path, key.token(tenant="default", roles=["admin"])).status_code == 200
    assert call(server, "GET", path, "test-admin-token").status_code == 200  # the break-glass token still works


def test_a_workspace_claim_maps_to_the_tenant_that_lists_it(server: ServerProcess, key: SigningKey) -> None:
    path = "/v1/conversations/c1/messages"
    mapped = call(server, "GET", path, key.token(tenant=None, workspace_id="ws-1", roles=["user"]))
    assert mapped.status_code == 200, mapped.text
    unmapped = call(server, "GET", path, key.token(tenant=None, workspace_id="ws-9", roles=["user"]))
    assert (unmapped.status_code, unmapped.json()["error"]["code"]) == (403, "forbidden_tenant")
