"""The configuration center on the database: changes through the admin API, checked before they are
stored, announced to every replica (two processes on PostgreSQL + Redis), audited with who changed them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cozegate.tenants import new_standard_secret
from tests.conftest import Backend
from tests.support.inspect_db import audit_rows
from tests.support.server import ServerProcess
from tests.support.waiting import wait_for
from tests.tenants.traffic import Traffic, post

ADMIN = {"authorization": "Bearer test-admin-token"}


def start(backend: Backend, name: str) -> ServerProcess:
    env = backend.settings_env(COZEGATE_TENANTS_SOURCE="database")
    return ServerProcess(env, backend.tmp / f"{name}.log").start()


@pytest.fixture
def replicas(backend: Backend) -> Iterator[list[ServerProcess]]:
    first = start(backend, "a")  # seeds version 1 from the tenants file
    servers = [first] if backend.is_sqlite else [first, start(backend, "b")]
    yield servers
    for server in servers:
        assert server.stop(), server.logs()


def document(backend: Backend, **extra: Any) -> dict[str, Any]:
    return {"tenants": {"default": {"secrets": [{"value": backend.secret}]}, **extra}}


def test_a_change_on_one_replica_reaches_every_replica(replicas: list[ServerProcess], backend: Backend) -> None:
    first, last = replicas[0], replicas[-1]
    shown = httpx.get(first.url + "/admin/tenants", headers=ADMIN).json()
    assert shown["tenants"]["default"]["secrets"] == [{"value": "***"}]  # secrets never leave

    with Traffic(last, "default", backend.secret) as traffic:
        acme = new_standard_secret()
        changed = httpx.put(
            first.url + "/admin/tenants", json=document(backend, acme={"secrets": [{"value": acme}]}), headers=ADMIN
        )
        assert changed.status_code == 200, changed.text
        put_done = time.monotonic()
        wait_for(lambda: post(last, "acme", acme, f"a-{time.monotonic_ns()}") == 200, timeout=10)
        print(f"\nconverged on the other replica {1000 * (time.monotonic() - put_done):.0f} ms after the change")
        version = changed.json()["version"]
        assert all(httpx.get(s.url + "/admin/config", headers=ADMIN).json()["version"] == version for s in replicas)
    assert set(traffic.statuses) == {200}  # the tenant that did not change served throughout

    applied = [r for r in audit_rows(backend) if r["action"] == "config.apply"]
    assert [(r["actor"], r["target"]) for r in applied][-1] == ("admin-token", version)
    assert applied[0]["actor"] == "seed:tenants-file"


def test_an_invalid_change_is_refused_everywhere(replicas: list[ServerProcess], backend: Backend) -> None:
    first, last = replicas[0], replicas[-1]
    before = httpx.get(last.url + "/admin/config", headers=ADMIN).json()["version"]
    broken = document(backend, acme={"secrets": []})
    refused = httpx.put(first.url + "/admin/tenants", json=broken, headers=ADMIN)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "invalid_config")
    assert "secrets" in refused.json()["error"]["message"]
    assert httpx.get(first.url + "/admin/config", headers=ADMIN).json()["last_error"] is not None
    assert httpx.get(last.url + "/admin/config", headers=ADMIN).json()["version"] == before
    assert post(last, "default", backend.secret, f"ok-{time.monotonic_ns()}") == 200
    assert httpx.put(first.url + "/admin/tenants", content=b"{nope", headers=ADMIN).status_code == 400


def test_the_file_source_says_where_to_edit(backend: Backend) -> None:
    server = ServerProcess(backend.settings_env(), backend.tmp / "file.log").start()
    try:
        r = httpx.put(server.url + "/admin/tenants", json=document(backend), headers=ADMIN)
        assert (r.status_code, r.json()["error"]["code"]) == (409, "file_source")
    finally:
        assert server.stop(), server.logs()


def test_secret_values_are_masked_wherever_they_sit() -> None:
    from cozegate.gateway.config_routes import _mask_secrets

    document = {
        "tenants": {
            "a": {
                "secrets": [{"value": "whsec_x"}, {"env": "OLD"}],
                "reply_secret": {"value": "whsec_y"},
                "coze": {"token": {"value": "pat_z"}, "base_url": "https://api.coze.cn"},
                "bot_id": "value",
            }
        }
    }
    masked = _mask_secrets(document)["tenants"]["a"]
    assert masked["secrets"] == [{"value": "***"}, {"env": "OLD"}]
    assert masked["reply_secret"] == {"value": "***"}
    assert masked["coze"] == {"token": {"value": "***"}, "base_url": "https://api.coze.cn"}
    assert masked["bot_id"] == "value"


@pytest.mark.parametrize(
    ("coze", "reason"),
    [
        ({"token": {"env": "COZEGATE_ADMIN_TOKEN"}}, "must start with COZEGATE_TENANT_"),
        ({"token": {"file": "/etc/shadow"}}, "not a file"),
    ],
)
def test_a_tenants_coze_token_cannot_point_at_the_processs_secrets(coze: dict[str, Any], reason: str) -> None:
    from cozegate.tenants import TenantRegistry

    with pytest.raises(ValueError, match=reason):
        TenantRegistry.from_document({"tenants": {"t": {"secrets": [{"value": "x"}], "coze": coze}}})


def test_a_tenants_token_only_goes_to_coze() -> None:
    from cozegate.coze.clients import CozeClients

    made: list[str | None] = []
    clients = CozeClients(object(), lambda token, url: made.append(url) or object(), {"https://api.coze.com"})  # type: ignore[arg-type]
    clients.for_account("pat_x", "https://api.coze.com/")
    with pytest.raises(PermissionError, match="not allowed"):
        clients.for_account("pat_x", "https://evil.example")
    assert made == ["https://api.coze.com/"]


async def test_concurrent_changes_leave_the_newest_version_in_force(db: Any, backend: Backend) -> None:
    from cozegate.tenants import TenantRegistry
    from cozegate.tenants.database_source import TenantsDatabaseSource

    applied: list[TenantRegistry] = []

    async def audit(*_: Any) -> None:
        return None

    source = TenantsDatabaseSource(db, None, "unused", applied.append, audit)
    await source.load(document(backend))
    documents = [document(backend, **{f"t{i}": {"secrets": [{"value": backend.secret}]}}) for i in range(8)]
    import asyncio

    versions = await asyncio.gather(*(source.change(d, actor="a", request_id=None) for d in documents))
    newest = max(versions)
    assert source.status.version == str(newest)
    assert applied[-1].names() == sorted(["default", f"t{versions.index(newest)}"])


def test_a_workspace_belongs_to_one_tenant() -> None:
    from cozegate.tenants import TenantRegistry

    with pytest.raises(ValueError, match="listed by tenants a and b"):
        TenantRegistry.from_document(
            {
                "tenants": {
                    "a": {"secrets": [{"value": "x"}], "workspace_ids": ["ws"]},
                    "b": {"secrets": [{"value": "x"}], "workspace_ids": ["ws"]},
                }
            }
        )
