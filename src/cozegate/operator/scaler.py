"""Scaling a bot under Kubernetes: the lifecycle's ``scaling`` sets the replicas of the bot's
``CozeBot`` (same name, one namespace) and lasts until the operator reports that many ready workers.

The lifecycle's deadline bounds the wait; when it passes, the rollback sets the previous count back
(without waiting: a rollback only has to be under way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from kubernetes_asyncio.client import ApiClient

from cozegate.lifecycle import BotRecord
from cozegate.operator.crd import API_VERSION, KIND
from cozegate.operator.kube import ObjectRef
from cozegate.operator.kube_api import KubernetesApi, connect


class CozeBotApi(Protocol):
    async def get(self, ref: ObjectRef) -> dict[str, Any] | None: ...

    async def merge_patch(self, ref: ObjectRef, patch: Mapping[str, Any]) -> dict[str, Any]: ...


class CozeBotScaler:
    def __init__(self, api: CozeBotApi, namespace: str, *, poll_seconds: float = 2.0) -> None:
        self._api = api
        self._namespace = namespace
        self._poll = poll_seconds

    async def __call__(self, bot: BotRecord, replicas: int, *, wait: bool = True) -> None:
        ref = ObjectRef(API_VERSION, KIND, self._namespace, bot.name)
        if await self._api.get(ref) is None:
            raise LookupError(f"no CozeBot {self._namespace}/{bot.name}: create it (kubectl apply) before scaling")
        updated = await self._api.merge_patch(ref, {"spec": {"replicas": replicas}})
        generation = int(updated["metadata"].get("generation") or 0)
        while wait:
            current = await self._api.get(ref)
            if current is None:
                raise LookupError(f"CozeBot {self._namespace}/{bot.name} was deleted while scaling")
            if _ready(current.get("status") or {}, generation, replicas):
                return
            await asyncio.sleep(self._poll)


def _ready(status: Mapping[str, Any], generation: int, replicas: int) -> bool:
    """The operator has seen this spec and reports the count ready (0 ready when stopping)."""
    observed = int(status.get("observedGeneration") or 0)
    return observed >= generation and int(status.get("readyReplicas") or 0) == replicas


class ClusterScaler:
    """A ``CozeBotScaler`` on the cluster the process runs in (its service account, else the
    kubeconfig); it connects on first use, so a gateway that never scales never talks to Kubernetes."""

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace
        self._client: ApiClient | None = None
        self._scaler: CozeBotScaler | None = None

    async def __call__(self, bot: BotRecord, replicas: int, *, wait: bool = True) -> None:
        if self._scaler is None:
            self._client = await connect()
            self._scaler = CozeBotScaler(KubernetesApi(self._client), self._namespace)
        await self._scaler(bot, replicas, wait=wait)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
