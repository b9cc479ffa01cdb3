"""Fixtures of the operator tests: a fake API server on loopback, the real KubeApi pointed at it, bodies."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from cozegate.operator import OperatorConfig, Reconciler, cozebot_crd
from cozegate.operator.kube_api import KubernetesApi
from tests.operator.fake_kube_api import FakeKubeServer

NAMESPACE = "bots"
CONFIG = OperatorConfig(image="registry.example/cozegate:1.2.3", secret_name="backends")


class Clock:
    """A clock the test moves, so condition timestamps are exact."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def cozebot_body(name: str = "support", namespace: str = NAMESPACE, **spec: Any) -> dict[str, Any]:
    """A CozeBot as a user writes it (no uid or generation: the server adds them)."""
    full = {"botId": "7350000000000000001", "tenant": "acme", "version": "v1", **spec}
    return {
        "apiVersion": "cozegate.io/v1alpha1",
        "kind": "CozeBot",
        "metadata": {"name": name, "namespace": namespace},
        "spec": full,
    }


def stored(
    body: dict[str, Any], uid: str = "0b7c5a3e-1111-4a4a-9f9f-000000000001", generation: int = 1
) -> dict[str, Any]:
    """A CozeBot as the API server returns it (for the pure functions)."""
    result = copy.deepcopy(body)
    result["metadata"].update(uid=uid, generation=generation)
    return result


@pytest.fixture
def kube() -> Iterator[FakeKubeServer]:
    """A fake API server with the CozeBot CRD installed and the namespace ``bots``."""
    server = FakeKubeServer().start()
    server.api.install(cozebot_crd())
    server.api.install({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    yield server
    server.stop()


@pytest.fixture
async def api_client(kube: FakeKubeServer) -> AsyncIterator[ApiClient]:
    configuration = Configuration(host=kube.url)
    client = ApiClient(configuration)
    yield client
    await client.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def reconciler(api_client: ApiClient, clock: Clock) -> Reconciler:
    return Reconciler(KubernetesApi(api_client), CONFIG, clock=clock)
