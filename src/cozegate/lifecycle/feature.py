"""The bot lifecycle in a running gateway: the manager (Coze publish and withdraw with the tenant's
account), carried on at start, its deadlines supervised, its side effects cancelled at stop.

Scaling under Kubernetes is attached by the operator's feature (``operator.feature``)."""

from __future__ import annotations

from cozegate.kernel.feature import BackgroundTask, Feature
from cozegate.kernel.kernel import Kernel
from cozegate.lifecycle.actuator import CozeActuator
from cozegate.lifecycle.manager import LifecycleManager, Timeouts
from cozegate.lifecycle.store import BotStore


def lifecycle_feature(kernel: Kernel) -> Feature:
    settings = kernel.settings
    actuator = CozeActuator(kernel.coze_for)
    manager = LifecycleManager(
        BotStore(kernel.db),
        actuator,
        timeouts=Timeouts(
            deploying=settings.lifecycle_deploy_timeout_seconds,
            scaling=settings.lifecycle_scale_timeout_seconds,
            terminating=settings.lifecycle_terminate_timeout_seconds,
        ),
        exclusive=kernel.db.is_sqlite,  # embedded: one process, so a restart carries every deploy on at once
    )
    kernel.parts.provide(manager, actuator)

    async def stop() -> None:
        await manager.close()  # drives cancelled first: a scaling in flight is resumed by the next process
        await actuator.aclose()

    return Feature(
        "lifecycle",
        start=manager.resume,
        stop=stop,
        tasks=[BackgroundTask("lifecycle-deadlines", manager.supervise)],
    )
