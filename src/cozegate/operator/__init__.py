"""The Kubernetes operator for ``CozeBot`` resources (kopf): one CozeBot, one set of cozegate workers.

The pure parts (the CRD, the desired children, conditions and status) are plain functions; the
``Reconciler`` drives them through the small ``KubeApi`` protocol; ``handlers`` wires it to kopf.
"""

from typing import TYPE_CHECKING

from cozegate.imports import lazy_exports

if TYPE_CHECKING:
    from cozegate.operator.config import OperatorConfig
    from cozegate.operator.crd import API_VERSION, GROUP, KIND, PLURAL, VERSION, cozebot_crd, cozebot_schema
    from cozegate.operator.kube import KubeApi, KubeApiError, ObjectRef
    from cozegate.operator.reconcile import ReconcileError, Reconciler, ReconcileResult
    from cozegate.operator.resources import children, desired_children
    from cozegate.operator.spec import CozeBot, InvalidSpec, parse_cozebot

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "OperatorConfig": "config",
        "API_VERSION": "crd",
        "GROUP": "crd",
        "KIND": "crd",
        "PLURAL": "crd",
        "VERSION": "crd",
        "cozebot_crd": "crd",
        "cozebot_schema": "crd",
        "KubeApi": "kube",
        "KubeApiError": "kube",
        "ObjectRef": "kube",
        "ReconcileError": "reconcile",
        "Reconciler": "reconcile",
        "ReconcileResult": "reconcile",
        "children": "resources",
        "desired_children": "resources",
        "CozeBot": "spec",
        "InvalidSpec": "spec",
        "parse_cozebot": "spec",
    },
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "CozeBot",
    "InvalidSpec",
    "KubeApi",
    "KubeApiError",
    "ObjectRef",
    "OperatorConfig",
    "ReconcileError",
    "ReconcileResult",
    "Reconciler",
    "children",
    "cozebot_crd",
    "cozebot_schema",
    "desired_children",
    "parse_cozebot",
]
