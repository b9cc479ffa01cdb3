"""The kopf side: which events reconcile which CozeBot, and the settings kopf runs with.

Every handler delegates to the one ``Reconciler`` kept in kopf's memo, by namespace and name:

- a CozeBot is created, changed, or found at start-up (create / update / resume);
- a child (Deployment, Service, ConfigMap, PodDisruptionBudget, HorizontalPodAutoscaler) changes or
  disappears: its controlling CozeBot is reconciled, so Deployment status (readyReplicas) flows into
  the CozeBot's status and a child edited or deleted by hand is put back.

Kubernetes Events go on the CozeBot when children were written (``Reconciled``) or a reconcile failed
(``ReconcileFailed``); kopf's own log lines are not posted, so routine child events leave no Events.

There is deliberately no timer or daemon: kopf adds a finalizer to every object that has one, and a
finalizer makes a CozeBot undeletable while the operator is down. Owner references already let the
garbage collector delete the children, and child events give the same freshness without polling.
kopf keeps its bookkeeping in ``cozegate.io/*`` annotations, not in ``status`` (whose schema is strict).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import kopf
from kubernetes_asyncio.client import ApiClient

from cozegate.operator.config import OperatorConfig
from cozegate.operator.crd import API_VERSION, GROUP, KIND, PLURAL, VERSION
from cozegate.operator.kube_api import KubernetesApi, connect
from cozegate.operator.reconcile import ReconcileError, Reconciler, ReconcileResult
from cozegate.operator.resources import LABEL_MANAGED_BY, MANAGED_BY

MEMO_KEY = "cozegate"
RETRY_DELAY_SECONDS = 15.0
ANNOTATION_PREFIX = "cozegate.io"
# (group, version, plural) of the children kopf watches, only those labelled as the operator's.
CHILD_RESOURCES = (
    ("apps", "v1", "deployments"),
    ("", "v1", "services"),
    ("", "v1", "configmaps"),
    ("policy", "v1", "poddisruptionbudgets"),
    ("autoscaling", "v2", "horizontalpodautoscalers"),
)
CHILD_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY}"


# Post one Kubernetes Event about an object: (object with apiVersion, kind, metadata), warning?, reason, message.
EventPoster = Callable[[Mapping[str, Any], bool, str, str], None]


def post_with_kopf(obj: Mapping[str, Any], warning: bool, reason: str, message: str) -> None:
    """Through kopf's event queue (posted in the background, retried, never failing the handler)."""
    body = kopf.Body(cast(kopf.RawBody, obj))
    if warning:
        kopf.warn(body, reason=reason, message=message)
    else:
        kopf.info(body, reason=reason, message=message)


@dataclass
class OperatorRuntime:
    """What the handlers share: the configuration, the API client and reconciler made at start-up, and
    how Events are posted (kopf's queue in the operator; tests record them)."""

    config: OperatorConfig
    kubeconfig: str | None = None
    client: ApiClient | None = None
    reconciler: Reconciler | None = None
    post_event: EventPoster = field(default=post_with_kopf)


def runtime_of(memo: Any) -> OperatorRuntime:
    runtime = memo.get(MEMO_KEY) if isinstance(memo, Mapping) else None
    if not isinstance(runtime, OperatorRuntime):
        raise kopf.PermanentError(f"kopf's memo has no {MEMO_KEY!r} OperatorRuntime: the operator was started wrongly")
    return runtime


async def start(*, memo: Any, logger: kopf.Logger, **_: Any) -> None:
    """Start-up: one API client and one reconciler for the whole operator (unless tests supplied them)."""
    runtime = runtime_of(memo)
    if runtime.reconciler is None:
        runtime.client = await connect(kubeconfig=runtime.kubeconfig)
        runtime.reconciler = Reconciler(KubernetesApi(runtime.client), runtime.config)
    logger.info("cozegate operator: image %s, backends secret %s", runtime.config.image, runtime.config.secret_name)


async def stop(*, memo: Any, **_: Any) -> None:
    """Clean-up: close the API client's connections."""
    runtime = runtime_of(memo)
    if runtime.client is not None:
        await runtime.client.close()
        runtime.client = None


def _summary(result: ReconcileResult) -> str:
    parts = [f"generation {result.generation}"]
    if result.applied:
        parts.append("applied " + ", ".join(result.applied))
    if result.deleted:
        parts.append("deleted " + ", ".join(result.deleted))
    return "; ".join(parts)


def _cozebot_ref(namespace: str, name: str, uid: str | None) -> dict[str, Any]:
    meta = {"namespace": namespace, "name": name, **({"uid": uid} if uid else {})}
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta}


async def _reconcile(runtime: OperatorRuntime, bot: Mapping[str, Any], logger: kopf.Logger) -> None:
    """Reconcile ``bot`` (an object reference), post an Event about what changed or failed, map errors for kopf."""
    reconciler = runtime.reconciler
    if reconciler is None:
        raise kopf.TemporaryError("the operator is still starting", delay=1)
    meta = bot["metadata"]
    try:
        result = await reconciler.reconcile(meta["namespace"], meta["name"])
    except ReconcileError as exc:
        runtime.post_event(bot, True, "ReconcileFailed", str(exc))
        if exc.permanent:
            raise kopf.PermanentError(str(exc)) from exc
        raise kopf.TemporaryError(str(exc), delay=RETRY_DELAY_SECONDS) from exc
    if result is not None and (result.applied or result.deleted):
        summary = _summary(result)
        logger.info("reconciled CozeBot %s/%s: %s", result.namespace, result.name, summary)
        runtime.post_event(bot, False, "Reconciled", summary)


async def reconcile_cozebot(
    *, name: str, namespace: str | None, uid: str | None = None, memo: Any, logger: kopf.Logger, **_: Any
) -> None:
    """A CozeBot was created, changed or found at start-up: reconcile it (kopf retries on a temporary error)."""
    if namespace is None:  # CozeBots are namespaced; kopf types the argument for cluster-scoped kinds too
        raise kopf.PermanentError("a CozeBot without a namespace")
    await _reconcile(runtime_of(memo), _cozebot_ref(namespace, name, uid), logger)


def controlling_cozebot(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The owner reference of the CozeBot that controls this object, if one does."""
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") is True and ref.get("apiVersion") == API_VERSION and ref.get("kind") == KIND:
            return dict(ref)
    return None


async def reconcile_owner(
    *, body: Mapping[str, Any], namespace: str | None, memo: Any, logger: kopf.Logger, **_: Any
) -> None:
    """A child changed or disappeared: reconcile its CozeBot. Event handlers are not retried, so failures
    are logged; the CozeBot's own handlers retry, and the next child event tries again."""
    owner = controlling_cozebot(body)
    if owner is None or namespace is None:
        return
    bot = _cozebot_ref(namespace, str(owner.get("name")), owner.get("uid"))
    try:
        await _reconcile(runtime_of(memo), bot, logger)
    except (kopf.PermanentError, kopf.TemporaryError) as exc:
        logger.warning("reconciling CozeBot %s/%s after a child event failed: %s", namespace, owner.get("name"), exc)


def build_registry() -> kopf.OperatorRegistry:
    """A registry with the operator's handlers (its own, not kopf's global one, so nothing leaks between runs)."""
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry)(kopf.login_via_async_client)
    kopf.on.startup(registry=registry)(start)
    kopf.on.cleanup(registry=registry)(stop)
    kopf.on.create(GROUP, VERSION, PLURAL, id="reconcile", registry=registry)(reconcile_cozebot)
    kopf.on.update(GROUP, VERSION, PLURAL, id="reconcile", registry=registry)(reconcile_cozebot)
    kopf.on.resume(GROUP, VERSION, PLURAL, id="reconcile", registry=registry)(reconcile_cozebot)
    for group, version, plural in CHILD_RESOURCES:
        kopf.on.event(
            group, version, plural, id=f"owner-{plural}", labels={LABEL_MANAGED_BY: MANAGED_BY}, registry=registry
        )(reconcile_owner)
    return registry


def operator_settings(*, standalone: bool = True, instance: str = "cozegate-operator") -> kopf.OperatorSettings:
    """kopf's settings: Events posted, no peering unless asked, bookkeeping in annotations, filtered watches."""
    settings = kopf.OperatorSettings()
    settings.posting.enabled = True
    settings.posting.loggers = False  # only the operator's explicit Events; not every log line
    settings.posting.level = logging.INFO
    settings.posting.reporting_component = "cozegate-operator"
    settings.posting.reporting_instance = instance
    settings.posting.event_name_prefix = "cozegate-operator-"
    settings.peering.standalone = standalone
    settings.peering.name = "cozegate-operator"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{ANNOTATION_PREFIX}/operator"  # unused (no handler needs one), but ours
    # Re-open each watch at least every 5 minutes: a connection a proxy dropped silently is not waited on forever.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    for group, version, plural in CHILD_RESOURCES:
        key = (version, plural) if not group else (group, version, plural)
        settings.watching.label_selectors[key] = CHILD_SELECTOR
    return settings
