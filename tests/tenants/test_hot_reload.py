"""Editing the tenants file of a running server: valid changes apply whole while requests flow, invalid
ones are refused with the reason shown, and the last good configuration keeps serving."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cozegate.tenants import new_standard_secret
from tests.conftest import Backend
from tests.support.inspect_db import audit_rows
from tests.support.server import ServerProcess
from tests.support.waiting import wait_for
from tests.tenants.traffic import Traffic, post

ADMIN = {"authorization": "Bearer test-admin-token"}


@pytest.fixture
def server(backend: Backend) -> Iterator[ServerProcess]:
    proc = ServerProcess(backend.settings_env(), backend.tmp / "server.log").start()
    yield proc
    assert proc.stop(), proc.logs()


def tenants_file(backend: Backend) -> Path:
    return backend.tmp / "tenants.yaml"


def write(backend: Backend, extra: dict[str, Any]) -> None:
    document = {"tenants": {"default": {"secrets": [{"value": backend.secret}]}, **extra}}
    tenants_file(backend).write_text(yaml.safe_dump(document))


def config(server: ServerProcess) -> dict[str, Any]:
    status: dict[str, Any] = httpx.get(server.url + "/admin/config", headers=ADMIN).json()
    return status


def test_a_new_tenant_is_served_once_the_file_changes(server: ServerProcess, backend: Backend) -> None:
    before = config(server)
    assert post(server, "acme", backend.secret, "a-0") == 404
    acme_secret = new_standard_secret()
    write(backend, {"acme": {"secrets": [{"value": acme_secret}]}})
    wait_for(lambda: post(server, "acme", acme_secret, f"a-{time.monotonic_ns()}") == 200, timeout=15)
    after = config(server)
    assert after["version"] != before["version"]
    assert after["tenants"] == ["acme", "default"]
    assert after["last_error"] is None
    applied = [r for r in audit_rows(backend) if r["action"] == "config.apply"]
    assert applied[-1]["target"] == after["version"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("tenants:\n  default:\n    secrets: [{value: whsec_NEVERSHOWN", "not valid YAML at line"),
        ("tenants:\n  default:\n    secrets: []\n", "secrets"),
        (
            "tenants:\n  default:\n    secrets: [{value: x}]\n    rollout:\n      experiment: e\n"
            "      variants: [{name: a, bot_id: b, weight_bps: 10}]\n",
            "add up",
        ),
    ],
    ids=["broken-yaml", "no-secret", "bad-rollout"],
)
def test_an_invalid_change_is_refused_and_the_last_good_one_stays(
    server: ServerProcess, backend: Backend, content: str, reason: str
) -> None:
    good = config(server)["version"]
    tenants_file(backend).write_text(content)
    error = wait_for(lambda: config(server)["last_error"], timeout=15)
    assert reason in error["reason"]
    assert "NEVERSHOWN" not in error["reason"]  # the broken line may hold a secret: only where, never what
    assert config(server)["version"] == good
    assert post(server, "default", backend.secret, f"still-{time.monotonic_ns()}") == 200
    assert 'cozegate_config_reloads_total{outcome="rejected"}' in httpx.get(server.url + "/metrics").text


def test_no_request_sees_a_half_applied_configuration(server: ServerProcess, backend: Backend) -> None:
    with Traffic(server, "default", backend.secret) as traffic:
        for round_ in range(20):  # rewrite the file over and over (half-written files included) while traffic flows
            extra = {f"t{round_}": {"secrets": [{"value": new_standard_secret()}]}} if round_ % 2 else {}
            write(backend, extra)
            time.sleep(0.1)
        wait_for(lambda: config(server)["tenants"] == ["default", "t19"], timeout=15)
    assert len(traffic.statuses) > 20
    assert set(traffic.statuses) == {200}
