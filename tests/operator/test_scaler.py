"""The lifecycle scales a bot under Kubernetes through its CozeBot: ``scaling`` sets the CozeBot's
replicas and ends when the operator reports that many ready; past the deadline the rollback sets the
previous count back. Real lifecycle (database), real KubeApi over HTTP, the fake API server, the
real reconciler (the test plays the Deployment controller by reporting ready pods)."""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes_asyncio.client import ApiClient

from cozegate.lifecycle import BotRecord, BotState, BotStore, LifecycleManager, Release, Trigger
from cozegate.operator import Reconciler
from cozegate.operator.kube_api import KubernetesApi
from cozegate.operator.scaler import CozeBotScaler
from cozegate.storage import Database
from tests.lifecycle.actuators import ScriptedActuator
from tests.operator.conftest import NAMESPACE, cozebot_body
from tests.operator.fake_kube_api import FakeKubeServer


class ClusterActuator(ScriptedActuator):
    """Publishing as scripted; scaling through the CozeBot."""

    def __init__(self, scaler: CozeBotScaler) -> None:
        super().__init__()
        self.scaler = scaler

    async def scale(self, bot: BotRecord, replicas: int, *, wait: bool = True) -> None:
        await self.scaler(bot, replicas, wait=wait)


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def cozebot(kube: FakeKubeServer) -> dict[str, Any]:
    bot = kube.api.get("cozegate.io/v1alpha1", "CozeBot", NAMESPACE, "shop")
    assert bot is not None
    return bot


async def pods_ready(kube: FakeKubeServer, reconciler: Reconciler, ready: int) -> None:
    """The Deployment controller reports ``ready`` pods; the operator carries it into the CozeBot's status."""
    await reconciler.reconcile(NAMESPACE, "shop")
    deployment = kube.api.get("apps/v1", "Deployment", NAMESPACE, "shop")
    assert deployment is not None
    generation = deployment["metadata"]["generation"]
    status = {"observedGeneration": generation, "replicas": ready, "updatedReplicas": ready, "readyReplicas": ready}
    kube.api.update_status("apps/v1", "Deployment", NAMESPACE, "shop", status)
    await reconciler.reconcile(NAMESPACE, "shop")


async def test_scaling_lasts_until_the_workers_are_ready_and_rolls_back_past_its_deadline(
    db: Database, kube: FakeKubeServer, api_client: ApiClient, reconciler: Reconciler
) -> None:
    kube.api.install(cozebot_body(name="shop", replicas=1))
    await pods_ready(kube, reconciler, 1)
    clock = Clock()
    scaler = CozeBotScaler(KubernetesApi(api_client), NAMESPACE, poll_seconds=0.02)
    manager = LifecycleManager(BotStore(db), ClusterActuator(scaler), clock=clock)
    await manager.register("shop", "acme", actor="t")
    await manager.deploy("shop", Release("v1", "7350000000000000001"), actor="t")
    await manager.settled("shop")

    await manager.scale("shop", 3, actor="t")
    await asyncio.sleep(0.2)
    assert cozebot(kube)["spec"]["replicas"] == 3
    assert (await manager.require("shop")).state == BotState.SCALING  # not ready yet: still scaling
    await pods_ready(kube, reconciler, 3)
    async with asyncio.timeout(30):
        bot = await manager.settled("shop")
    assert (bot.state, bot.replicas) == (BotState.RUNNING, 3)

    await manager.scale("shop", 5, actor="t")  # the pods never get ready (no room in the cluster)
    await asyncio.sleep(0.2)
    assert cozebot(kube)["spec"]["replicas"] == 5
    clock.now += 121
    [rolled_back] = await manager.tick()
    assert (rolled_back.state, rolled_back.replicas) == (BotState.RUNNING, 3)
    assert cozebot(kube)["spec"]["replicas"] == 3  # the previous count, set back on the CozeBot
    assert [t.trigger for t in await manager.store.history("shop")][-2:] == [Trigger.SCALE, Trigger.TIMED_OUT]
    await manager.close()


async def test_scaling_a_bot_without_a_cozebot_fails_at_once_and_keeps_the_count(
    db: Database, kube: FakeKubeServer, api_client: ApiClient
) -> None:
    scaler = CozeBotScaler(KubernetesApi(api_client), NAMESPACE, poll_seconds=0.02)
    manager = LifecycleManager(BotStore(db), ClusterActuator(scaler))
    await manager.register("ghost", "acme", actor="t")
    await manager.deploy("ghost", Release("v1", "7350000000000000001"), actor="t")
    await manager.settled("ghost")
    await manager.scale("ghost", 2, actor="t")
    async with asyncio.timeout(30):
        bot = await manager.settled("ghost")
    assert (bot.state, bot.replicas) == (BotState.RUNNING, 1)
    last = (await manager.store.history("ghost"))[-1]
    assert last.trigger == Trigger.SCALE_FAILED
    assert last.detail is not None
    assert "no CozeBot bots/ghost" in last.detail
    await manager.close()


async def test_scaling_fails_at_once_when_the_operator_will_not_apply_it(
    db: Database, kube: FakeKubeServer, api_client: ApiClient, reconciler: Reconciler
) -> None:
    kube.api.install(cozebot_body(name="shop", replicas=1, autoscaling={"maxReplicas": 4}))
    kube.api.install(cozebot_body(name="frozen", replicas=1, paused=True))
    await reconciler.reconcile(NAMESPACE, "shop")
    scaler = CozeBotScaler(KubernetesApi(api_client), NAMESPACE, poll_seconds=0.02)
    manager = LifecycleManager(BotStore(db), ClusterActuator(scaler))
    for name in ("shop", "frozen"):
        await manager.register(name, "acme", actor="t")
        await manager.deploy(name, Release("v1", "7350000000000000001"), actor="t")
        await manager.settled(name)

    await manager.scale("shop", 3, actor="t")  # its autoscaler owns the count
    await manager.scale("frozen", 3, actor="t")  # paused: the operator applies nothing

    async def reconcile_until_settled(name: str) -> BotRecord:
        async with asyncio.timeout(30):
            while (bot := await manager.require(name)).state == BotState.SCALING:
                await reconciler.reconcile(NAMESPACE, name)
                await asyncio.sleep(0.02)
        return bot

    for name, reason in (("shop", "autoscaler owns the replica count"), ("frozen", "is paused")):
        bot = await reconcile_until_settled(name)
        assert (bot.state, bot.replicas) == (BotState.RUNNING, 1)
        last = (await manager.store.history(name))[-1]
        assert last.trigger == Trigger.SCALE_FAILED
        assert last.detail is not None
        assert reason in last.detail
    assert cozebot(kube)["spec"]["replicas"] == 1  # never patched: refused before the patch
    await manager.close()
