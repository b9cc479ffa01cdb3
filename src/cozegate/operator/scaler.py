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
from cozegate.operator.kube import KubeApiError, ObjectRef
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
        if not wait:  # a rollback: set the count back, nothing more
            await self._api.merge_patch(ref, {"spec": {"replicas": replicas}})
            return
        current = await self._api.get(ref)
        if current is None:
            raise LookupError(f"no CozeBot {self._namespace}/{bot.name}: create it (kubectl apply) before scaling")
        if replicas > 0 and (current.get("spec") or {}).get("autoscaling"):
            raise ValueError(
                f"CozeBot {self._namespace}/{bot.name} has spec.autoscaling: its autoscaler owns the replica count"
            )
        updated = await self._api.merge_patch(ref, {"spec": {"replicas": replicas}})
        generation = int(updated["metadata"].get("generation") or 0)
        while True:
            await asyncio.sleep(self._poll)
            try:
                current = await self._api.get(ref)
            except KubeApiError as exc:
                if exc.retryable:  # the API server hiccuped: the lifecycle's deadline bounds the wait
                    continue
                raise
            if current is None:
                raise LookupError(f"CozeBot {self._namespace}/{bot.name} was deleted while scaling")
            if _settled(current.get("status") or {}, generation, replicas, f"{self._namespace}/{bot.name}"):
                return


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    found: Mapping[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})
    return found


def _settled(status: Mapping[str, Any], generation: int, replicas: int, name: str) -> bool:
    """True once the operator reports this generation ready (stopped, for 0); raises when it reports
    that it will not get there (paused, invalid or failing), so scaling fails now, not at its deadline."""
    if int(status.get("observedGeneration") or 0) < generation:
        return False
    if _condition(status, "Paused").get("status") == "True":
        raise RuntimeError(f"CozeBot {name} is paused: the operator does not apply the new count")
    reconciled = _condition(status, "Reconciled")
    if reconciled.get("status") == "False" and int(reconciled.get("observedGeneration") or 0) >= generation:
        raise RuntimeError(f"CozeBot {name} could not be reconciled: {reconciled.get('message')}")
    ready = _condition(status, "Ready")  # the Deployment's own generation and updated replicas checked
    if int(ready.get("observedGeneration") or 0) < generation:
        return False
    if replicas == 0:
        return bool(ready.get("reason") == "ScaledToZero")
    return ready.get("status") == "True" and int(status.get("readyReplicas") or 0) == replicas


class ClusterScaler:
    """A ``CozeBotScaler`` on the cluster the process runs in (its service account, else the
    kubeconfig); it connects on first use, so a gateway that never scales never talks to Kubernetes."""

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace
        self._client: ApiClient | None = None
        self._scaler: CozeBotScaler | None = None
        self._connecting = asyncio.Lock()

    async def __call__(self, bot: BotRecord, replicas: int, *, wait: bool = True) -> None:
        async with self._connecting:
            if self._scaler is None:
                self._client = await connect()
                self._scaler = CozeBotScaler(KubernetesApi(self._client), self._namespace)
        await self._scaler(bot, replicas, wait=wait)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
