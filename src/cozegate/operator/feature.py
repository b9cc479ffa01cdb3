"""Scaling bots under Kubernetes: with ``COZEGATE_LIFECYCLE_KUBERNETES_NAMESPACE`` set, the lifecycle's
``scaling`` sets the replicas of the bot's ``CozeBot`` (kubernetes_asyncio is imported only then)."""

from __future__ import annotations

from cozegate.kernel.feature import Feature
from cozegate.kernel.kernel import Kernel
from cozegate.lifecycle.actuator import CozeActuator


def scaling_feature(kernel: Kernel) -> Feature:
    namespace = kernel.settings.lifecycle_kubernetes_namespace
    if namespace is None:
        return Feature("kubernetes-scaling")
    from cozegate.operator.scaler import ClusterScaler

    kernel.parts.get(CozeActuator).scale_with(ClusterScaler(namespace))  # closed with the lifecycle
    return Feature("kubernetes-scaling")
