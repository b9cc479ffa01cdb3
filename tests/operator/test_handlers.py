"""The kopf handlers, called as kopf calls them (keyword arguments), against the fake API server.

They must delegate to the reconciler by namespace and name, turn its failures into kopf's permanent or
temporary errors, reconcile a child's owner on child events, and start and stop the API client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml

from cozegate.operator import OperatorConfig, Reconciler
from cozegate.operator.handlers import (
    CHILD_SELECTOR,
    MEMO_KEY,
    RETRY_DELAY_SECONDS,
    OperatorRuntime,
    build_registry,
    operator_settings,
    reconcile_cozebot,
    reconcile_owner,
    start,
    stop,
)
from tests.operator.conftest import CONFIG, NAMESPACE, cozebot_body
from tests.operator.fake_kube_api import FakeKubeServer, Fault

LOGGER = logging.getLogger("tests.operator")


Posted = tuple[str, bool, str, str]  # (kind/name of the object, warning?, reason, message)


class Events(list[Posted]):
    """Records the Events the handlers post (kopf's queue only exists inside a running operator)."""

    def __call__(self, obj: Mapping[str, Any], warning: bool, reason: str, message: str) -> None:
        self.append((f"{obj['kind']}/{obj['metadata']['name']}", warning, reason, message))


def memo_with(
    reconciler: Reconciler | None,
    config: OperatorConfig = CONFIG,
    kubeconfig: str | None = None,
    events: Events | None = None,
) -> kopf.Memo:
    runtime = OperatorRuntime(
        config, kubeconfig=kubeconfig, reconciler=reconciler, post_event=events if events is not None else Events()
    )
    return kopf.Memo({MEMO_KEY: runtime})


def kopf_kwargs(body: dict[str, Any], memo: kopf.Memo, **extra: Any) -> dict[str, Any]:
    """The keyword arguments kopf passes to a resource handler (kopf's ChangingFn / WatchingFn)."""
    meta = body["metadata"]
    now = datetime.now(UTC)
    return {
        "retry": 0,
        "started": now,
        "runtime": timedelta(0),
        "annotations": meta.get("annotations", {}),
        "labels": meta.get("labels", {}),
        "body": body,
        "meta": meta,
        "spec": body.get("spec", {}),
        "status": body.get("status", {}),
        "resource": None,
        "uid": meta.get("uid"),
        "name": meta["name"],
        "namespace": meta.get("namespace"),
        "patch": {},
        "reason": "create",
        "diff": (),
        "old": None,
        "new": None,
        "logger": LOGGER,
        "memo": memo,
        "param": None,
        **extra,
    }


async def test_the_cozebot_handler_reconciles_the_named_bot(kube: FakeKubeServer, reconciler: Reconciler) -> None:
    body = kube.api.install(cozebot_body(replicas=2))
    events = Events()

    await reconcile_cozebot(**kopf_kwargs(body, memo_with(reconciler, events=events)))
    await reconcile_cozebot(**kopf_kwargs(body, memo_with(reconciler, events=events)))  # nothing to do: no Event

    deployment = kube.api.get("apps/v1", "Deployment", NAMESPACE, "support")
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 2
    status = kube.api.get("cozegate.io/v1alpha1", "CozeBot", NAMESPACE, "support")
    assert status is not None
    assert status["status"]["observedGeneration"] == 1
    assert events == [
        (
            "CozeBot/support",
            False,
            "Reconciled",
            "generation 1; applied ConfigMap/support-config, Service/support, Deployment/support, "
            "PodDisruptionBudget/support",
        )
    ]


async def test_a_deployment_event_brings_ready_replicas_into_the_cozebots_status(
    kube: FakeKubeServer, reconciler: Reconciler
) -> None:
    body = kube.api.install(cozebot_body(replicas=1))
    await reconcile_cozebot(**kopf_kwargs(body, memo_with(reconciler)))
    kube.api.update_status(
        "apps/v1",
        "Deployment",
        NAMESPACE,
        "support",
        {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1},
    )
    deployment = kube.api.get("apps/v1", "Deployment", NAMESPACE, "support")
    assert deployment is not None

    await reconcile_owner(**kopf_kwargs(deployment, memo_with(reconciler), type="MODIFIED", event={}))

    bot = kube.api.get("cozegate.io/v1alpha1", "CozeBot", NAMESPACE, "support")
    assert bot is not None
    assert bot["status"]["readyReplicas"] == 1
    assert bot["status"]["phase"] == "Ready"


async def test_an_object_no_cozebot_controls_is_ignored(kube: FakeKubeServer, reconciler: Reconciler) -> None:
    stray = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": NAMESPACE, "labels": {}}}
    before = len(kube.api.requests)

    await reconcile_owner(**kopf_kwargs(stray, memo_with(reconciler), type="ADDED", event={}))

    assert len(kube.api.requests) == before


async def test_failures_become_kopfs_permanent_or_temporary_errors(
    kube: FakeKubeServer, reconciler: Reconciler, caplog: pytest.LogCaptureFixture
) -> None:
    variants = [{"name": "a", "botId": "b", "weightBps": 10}]
    broken = kube.api.install(cozebot_body(name="broken", rollout={"experiment": "e", "variants": variants}))
    with pytest.raises(kopf.PermanentError, match="weights add up to 10"):
        await reconcile_cozebot(**kopf_kwargs(broken, memo_with(reconciler)))

    body = kube.api.install(cozebot_body())
    kube.api.faults.append(Fault("PATCH", "/configmaps/support-config", 503))
    events = Events()
    with pytest.raises(kopf.TemporaryError) as raised:
        await reconcile_cozebot(**kopf_kwargs(body, memo_with(reconciler, events=events)))
    assert raised.value.delay == RETRY_DELAY_SECONDS
    ((about, warning, reason, message),) = events
    assert (about, warning, reason) == ("CozeBot/support", True, "ReconcileFailed")
    assert message.startswith("ConfigMap/support-config: injected fault")

    kube.api.faults.append(Fault("PATCH", "/configmaps/support-config", 503))
    deployment_like = {
        "metadata": {
            "name": "support",
            "namespace": NAMESPACE,
            "ownerReferences": [
                {
                    "apiVersion": "cozegate.io/v1alpha1",
                    "kind": "CozeBot",
                    "name": "support",
                    "uid": "u",
                    "controller": True,
                }
            ],
        }
    }
    # a child event is not retried by kopf: the failure is logged, not raised
    with caplog.at_level(logging.WARNING, logger=LOGGER.name):
        await reconcile_owner(**kopf_kwargs(deployment_like, memo_with(reconciler), type="MODIFIED", event={}))
    assert "reconciling CozeBot bots/support after a child event failed" in caplog.text


async def test_handlers_refuse_to_run_without_the_runtime() -> None:
    body = cozebot_body()
    with pytest.raises(kopf.PermanentError, match="OperatorRuntime"):
        await reconcile_cozebot(**kopf_kwargs(body, kopf.Memo()))
    with pytest.raises(kopf.TemporaryError, match="still starting"):
        await reconcile_cozebot(**kopf_kwargs(body, memo_with(None)))


async def test_start_connects_with_the_kubeconfig_and_stop_closes(kube: FakeKubeServer, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(kube.kubeconfig()))
    memo = memo_with(None, kubeconfig=str(kubeconfig))
    body = kube.api.install(cozebot_body())

    await start(memo=memo, logger=LOGGER, settings=None, retry=0)
    await reconcile_cozebot(**kopf_kwargs(body, memo))
    await stop(memo=memo, logger=LOGGER)

    assert kube.api.get("apps/v1", "Deployment", NAMESPACE, "support") is not None
    assert memo[MEMO_KEY].client is None
    applied = [r for r in kube.api.requests if r.path.endswith("/deployments/support") and r.method == "PATCH"]
    assert applied, "the reconciler made by start() talked to the kubeconfig's server"


def test_kopf_settings_post_events_keep_state_in_annotations_and_filter_child_watches() -> None:
    settings = operator_settings()
    assert settings.peering.standalone is True
    assert operator_settings(standalone=False).peering.standalone is False
    assert settings.posting.enabled is True
    assert settings.posting.reporting_component == "cozegate-operator"
    assert isinstance(settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert isinstance(settings.persistence.diffbase_storage, kopf.AnnotationsDiffBaseStorage)
    selectors = dict(settings.watching.label_selectors.items())
    assert len(selectors) == 5
    assert set(selectors.values()) == {CHILD_SELECTOR}


def test_the_registry_is_private_to_the_operator() -> None:
    registry = build_registry()
    assert isinstance(registry, kopf.OperatorRegistry)
    assert registry is not kopf.get_default_registry()
    assert build_registry() is not registry
