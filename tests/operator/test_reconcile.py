"""The reconciler through the real KubeApi (kubernetes_asyncio over HTTP) against the fake API server.

Every test drives ``Reconciler.reconcile`` and reads the result back from the server: children and
their owner references, updates, idempotence (no write on a second pass), pause and resume, garbage
collection on deletion, the Ready condition from the Deployment's status, and failures in the status.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cozegate.operator import ReconcileError, Reconciler
from cozegate.operator.kube_api import FIELD_MANAGER
from tests.operator.conftest import CONFIG, NAMESPACE, Clock, cozebot_body
from tests.operator.fake_kube_api import FakeKubeServer, Fault
from tests.support.waiting import wait_for

CHILDREN = [
    ("v1", "ConfigMap", "support-config"),
    ("v1", "Service", "support"),
    ("apps/v1", "Deployment", "support"),
    ("policy/v1", "PodDisruptionBudget", "support"),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "support"),
]
BOT = ("cozegate.io/v1alpha1", "CozeBot", NAMESPACE, "support")


def child(kube: FakeKubeServer, api_version: str, kind: str, name: str) -> dict[str, Any] | None:
    return kube.api.get(api_version, kind, NAMESPACE, name)


def bot(kube: FakeKubeServer) -> dict[str, Any]:
    found = kube.api.get(*BOT)
    assert found is not None
    return found


def condition(kube: FakeKubeServer, kind: str) -> dict[str, Any]:
    return next(c for c in bot(kube)["status"]["conditions"] if c["type"] == kind)


def versions(kube: FakeKubeServer) -> dict[str, str]:
    found = {}
    for api_version, kind, name in CHILDREN:
        obj = child(kube, api_version, kind, name)
        if obj is not None:
            found[kind] = obj["metadata"]["resourceVersion"]
    return found


def edit_spec(kube: FakeKubeServer, **spec: Any) -> None:
    kube.api.merge(*BOT, {"spec": spec})


def deployment_reports(kube: FakeKubeServer, *, ready: int, updated: int | None = None) -> None:
    """What the Deployment controller would write once pods come up."""
    deployment = child(kube, "apps/v1", "Deployment", "support")
    assert deployment is not None
    desired = deployment["spec"]["replicas"]
    state = {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": desired,
        "updatedReplicas": desired if updated is None else updated,
        "readyReplicas": ready,
        "availableReplicas": ready,
    }
    kube.api.update_status("apps/v1", "Deployment", NAMESPACE, "support", state)


async def test_create_makes_five_children_owned_by_the_cozebot(kube: FakeKubeServer, reconciler: Reconciler) -> None:
    kube.api.install(cozebot_body(replicas=2, autoscaling={"maxReplicas": 6}))
    uid = bot(kube)["metadata"]["uid"]

    result = await reconciler.reconcile(NAMESPACE, "support")

    assert result is not None
    assert result.outcome == "applied"
    assert len(result.applied) == 5
    for api_version, kind, name in CHILDREN:
        obj = child(kube, api_version, kind, name)
        assert obj is not None, f"{kind} {name} missing"
        assert obj["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "cozegate.io/v1alpha1",
                "kind": "CozeBot",
                "name": "support",
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "cozegate"
        assert labels["app.kubernetes.io/instance"] == "support"
        assert labels["app.kubernetes.io/managed-by"] == "cozegate-operator"
        assert labels["cozegate.io/bot"] == "support"
    hpa = child(kube, "autoscaling/v2", "HorizontalPodAutoscaler", "support")
    assert hpa is not None
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 6)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70  # the CRD's default
    # every write was a server-side apply by the operator's field manager, forced
    writes = [w for w in kube.api.writes() if "/cozebots/" not in w.path]
    assert len(writes) == 5
    for write in writes:
        assert write.method == "PATCH"
        assert write.content_type.startswith("application/apply-patch+yaml")
        assert write.query == {"fieldManager": FIELD_MANAGER, "force": "true"}


async def test_the_workers_run_cozegate_serve_with_probes_settings_and_secrets(
    kube: FakeKubeServer, reconciler: Reconciler
) -> None:
    kube.api.install(cozebot_body(replicas=3, env="staging"))
    await reconciler.reconcile(NAMESPACE, "support")

    deployment = child(kube, "apps/v1", "Deployment", "support")
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "cozegate", "app.kubernetes.io/instance": "support"}
    }
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["cozegate.io/bot"] == "support"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == CONFIG.image
    assert container["command"] + container["args"] == ["cozegate", "serve"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["envFrom"] == [{"configMapRef": {"name": "support-config"}}]
    secret_refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert secret_refs["COZEGATE_DATABASE_URL"] == {"name": "backends", "key": "database-url"}
    assert secret_refs["COZEGATE_REDIS_URL"] == {"name": "backends", "key": "redis-url"}
    assert secret_refs["COZEGATE_COZE_TOKEN"] == {"name": "backends", "key": "coze-token", "optional": True}
    settings = child(kube, "v1", "ConfigMap", "support-config")
    assert settings is not None
    assert settings["data"]["COZEGATE_HOST"] == "0.0.0.0"
    service = child(kube, "v1", "Service", "support")
    assert service is not None
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert child(kube, "autoscaling/v2", "HorizontalPodAutoscaler", "support") is None  # no autoscaling asked
    status = bot(kube)["status"]
    assert status["observedGeneration"] == 1
    assert condition(kube, "Reconciled")["status"] == "True"
    assert condition(kube, "Ready")["reason"] == "RolloutPending"  # no controller has seen the Deployment
    assert status["phase"] == "Progressing"


async def test_a_spec_change_reaches_the_children_and_observed_generation_follows(
    kube: FakeKubeServer, reconciler: Reconciler
) -> None:
    kube.api.install(cozebot_body(replicas=2))
    await reconciler.reconcile(NAMESPACE, "support")
    before = child(kube, "apps/v1", "Deployment", "support")
    assert before is not None

    edit_spec(kube, version="v2", replicas=5)
    assert bot(kube)["metadata"]["generation"] == 2
    result = await reconciler.reconcile(NAMESPACE, "support")

    assert result is not None
    assert "Deployment/support" in result.applied
    after = child(kube, "apps/v1", "Deployment", "support")
    assert after is not None
    assert after["spec"]["replicas"] == 5
    # the new version reaches the pod template, which rolls the pods
    assert after["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "v2"
    assert before["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "v1"
    assert bot(kube)["status"]["observedGeneration"] == 2
    assert condition(kube, "Reconciled")["observedGeneration"] == 2


async def test_a_second_reconcile_writes_nothing(kube: FakeKubeServer, reconciler: Reconciler) -> None:
    kube.api.install(cozebot_body(replicas=2, autoscaling={"maxReplicas": 4}))
    await reconciler.reconcile(NAMESPACE, "support")
    children_before, bot_before = versions(kube), bot(kube)["metadata"]["resourceVersion"]
    writes_before = len(kube.api.writes())

    again = await reconciler.reconcile(NAMESPACE, "support")

    assert again is not None
    assert not again.wrote
    assert len(again.unchanged) == 5
    assert versions(kube) == children_before
    assert bot(kube)["metadata"]["resourceVersion"] == bot_before
    assert len(kube.api.writes()) == writes_before
    for api_version, kind, _ in CHILDREN:
        assert len(kube.api.list_objects(api_version, kind, NAMESPACE)) == 1


async def test_concurrent_reconciles_of_one_bot_apply_each_child_once(
    kube: FakeKubeServer, reconciler: Reconciler
) -> None:
    kube.api.install(cozebot_body(autoscaling={"maxReplicas": 3}))

    results = await asyncio.gather(*(reconciler.reconcile(NAMESPACE, "support") for _ in range(4)))

    assert sum(len(r.applied) for r in results if r is not None) == 5
    assert len([w for w in kube.api.writes() if "/cozebots/" not in w.path]) == 5


async def test_paused_writes_nothing_to_the_children_and_says_so(
    kube: FakeKubeServer, reconciler: Reconciler, clock: Clock
) -> None:
    kube.api.install(cozebot_body(replicas=2))
    await reconciler.reconcile(NAMESPACE, "support")
    before = versions(kube)

    edit_spec(kube, paused=True, version="v2", replicas=4)
    mark = len(kube.api.requests)
    clock.advance(60)
    result = await reconciler.reconcile(NAMESPACE, "support")

    assert result is not None
    assert result.outcome == "paused"
    assert not result.applied
    assert versions(kube) == before
    children_writes = [r for r in kube.api.requests[mark:] if r.is_write and "/cozebots/" not in r.path]
    assert children_writes == []
    deployment = child(kube, "apps/v1", "Deployment", "support")
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 2
    status = bot(kube)["status"]
    assert status["phase"] == "Paused"
    assert status["observedGeneration"] == 2
    paused = condition(kube, "Paused")
    assert (paused["status"], paused["reason"]) == ("True", "PausedBySpec")
    reconciled = condition(kube, "Reconciled")
    assert (reconciled["status"], reconciled["reason"]) == ("False", "Paused")

    # unpause: the operator catches up with everything changed meanwhile
    edit_spec(kube, paused=False)
    result = await reconciler.reconcile(NAMESPACE, "support")
    assert result is not None
    assert "Deployment/support" in result.applied
    deployment = child(kube, "apps/v1", "Deployment", "support")
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 4
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "v2"
    assert condition(kube, "Paused")["status"] == "False"
    reconciled = condition(kube, "Reconciled")
    assert (reconciled["status"], reconciled["observedGeneration"]) == ("True", 3)


async def test_a_bot_created_paused_gets_no_children(kube: FakeKubeServer, reconciler: Reconciler) -> None:
    kube.api.install(cozebot_body(paused=True))
    result = await reconciler.reconcile(NAMESPACE, "support")

    assert result is not None
    assert result.outcome == "paused"
    assert versions(kube) == {}
    assert condition(kube, "Ready")["reason"] == "DeploymentMissing"
    assert bot(kube)["status"]["phase"] == "Paused"


async def test_deleting_the_cozebot_deletes_its_children_through_owner_references(
    kube: FakeKubeServer, reconciler: Reconciler
) -> None:
    kube.api.install(cozebot_body(autoscaling={"maxReplicas": 3}))
    kube.api.install(cozebot_body(name="other"))  # a neighbour that must survive
    await reconciler.reconcile(NAMESPACE, "support")
    await reconciler.reconcile(NAMESPACE, "other")
    assert len(versions(kube)) == 5

    kube.api.remove(*BOT)

    wait_for(lambda: versions(kube) == {}, timeout=10)
    assert child(kube, "apps/v1", "Deployment", "other") is not None
    assert await reconciler.reconcile(NAMESPACE, "support") is None  # gone: nothing to do


async def test_ready_follows_the_deployment_and_its_transition_time_only_moves_on_a_change(
    kube: FakeKubeServer, reconciler: Reconciler, clock: Clock
) -> None:
    kube.api.install(cozebot_body(replicas=2))
    await reconciler.reconcile(NAMESPACE, "support")
    first = condition(kube, "Ready")
    assert first["status"] == "False"

    clock.advance(30)
    deployment_reports(kube, ready=1)
    await reconciler.reconcile(NAMESPACE, "support")
    one_ready = condition(kube, "Ready")
    assert (one_ready["status"], one_ready["message"]) == ("False", "1/2 replicas ready")
    assert one_ready["lastTransitionTime"] == first["lastTransitionTime"]  # still False: the time stays
    assert bot(kube)["status"]["readyReplicas"] == 1

    clock.advance(30)
    deployment_reports(kube, ready=2)
    await reconciler.reconcile(NAMESPACE, "support")
    ready = condition(kube, "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "ReplicasReady")
    assert ready["lastTransitionTime"] == "2025-01-01T12:01:00Z"
    status = bot(kube)["status"]
    assert (status["phase"], status["replicas"], status["readyReplicas"]) == ("Ready", 2, 2)

    clock.advance(3600)
    again = await reconciler.reconcile(NAMESPACE, "support")
    assert again is not None
    assert not again.status_written
    assert condition(kube, "Ready")["lastTransitionTime"] == "2025-01-01T12:01:00Z"


async def test_turning_autoscaling_off_deletes_the_autoscaler(kube: FakeKubeServer, reconciler: Reconciler) -> None:
    kube.api.install(cozebot_body(replicas=2, autoscaling={"minReplicas": 2, "maxReplicas": 8}))
    await reconciler.reconcile(NAMESPACE, "support")
    assert child(kube, "autoscaling/v2", "HorizontalPodAutoscaler", "support") is not None

    edit_spec(kube, autoscaling=None, replicas=3)
    result = await reconciler.reconcile(NAMESPACE, "support")

    assert result is not None
    assert result.deleted == ("HorizontalPodAutoscaler/support",)
    assert child(kube, "autoscaling/v2", "HorizontalPodAutoscaler", "support") is None
    deployment = child(kube, "apps/v1", "Deployment", "support")
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 3


async def test_the_autoscalers_replica_count_survives_a_rollout(kube: FakeKubeServer, reconciler: Reconciler) -> None:
    kube.api.install(cozebot_body(replicas=2, autoscaling={"maxReplicas": 8}))
    await reconciler.reconcile(NAMESPACE, "support")
    kube.api.merge("apps/v1", "Deployment", NAMESPACE, "support", {"spec": {"replicas": 6}}, manager="hpa-controller")

    edit_spec(kube, version="v2")
    result = await reconciler.reconcile(NAMESPACE, "support")

    assert result is not None
    assert "Deployment/support" in result.applied
    deployment = child(kube, "apps/v1", "Deployment", "support")
    assert deployment is not None
    assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "v2"
    assert deployment["spec"]["replicas"] == 6


async def test_children_changed_or_deleted_by_hand_are_put_back(kube: FakeKubeServer, reconciler: Reconciler) -> None:
    kube.api.install(cozebot_body())
    await reconciler.reconcile(NAMESPACE, "support")
    containers = {"spec": {"template": {"spec": {"containers": [{"name": "cozegate", "image": "evil/image:1"}]}}}}
    kube.api.merge("apps/v1", "Deployment", NAMESPACE, "support", containers)
    kube.api.remove("v1", "Service", NAMESPACE, "support")

    result = await reconciler.reconcile(NAMESPACE, "support")

    assert result is not None
    assert set(result.applied) == {"Deployment/support", "Service/support"}
    deployment = child(kube, "apps/v1", "Deployment", "support")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == CONFIG.image
    assert child(kube, "v1", "Service", "support") is not None


async def test_a_name_taken_by_a_foreign_object_is_not_taken_over(kube: FakeKubeServer, reconciler: Reconciler) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "support", "namespace": NAMESPACE},
        "spec": {"ports": [{"port": 5432}]},
    }
    kube.api.install(foreign)
    kube.api.install(cozebot_body())

    with pytest.raises(ReconcileError) as raised:
        await reconciler.reconcile(NAMESPACE, "support")

    assert not raised.value.permanent
    reconciled = condition(kube, "Reconciled")
    assert (reconciled["status"], reconciled["reason"]) == ("False", "ApplyFailed")
    assert "Service/support exists and is not controlled by this CozeBot" in reconciled["message"]
    assert bot(kube)["status"]["phase"] == "Failed"
    service = child(kube, "v1", "Service", "support")
    assert service is not None
    assert service["spec"]["ports"][0]["port"] == 5432
    assert "ownerReferences" not in service["metadata"]


async def test_a_spec_the_gateway_would_refuse_is_reported_and_builds_nothing(
    kube: FakeKubeServer, reconciler: Reconciler
) -> None:
    # the schema accepts it (the sum of the weights is a CEL rule the fake does not run); the operator does not
    variants = [
        {"name": "stable", "botId": "b1", "weightBps": 5000},
        {"name": "canary", "botId": "b2", "weightBps": 4000},
    ]
    kube.api.install(cozebot_body(rollout={"experiment": "exp", "variants": variants}))

    with pytest.raises(ReconcileError) as raised:
        await reconciler.reconcile(NAMESPACE, "support")

    assert raised.value.permanent
    reconciled = condition(kube, "Reconciled")
    assert (reconciled["status"], reconciled["reason"]) == ("False", "InvalidSpec")
    assert "add up to 9000" in reconciled["message"]
    assert versions(kube) == {}


async def test_a_server_failure_is_recorded_temporary_and_retried(kube: FakeKubeServer, reconciler: Reconciler) -> None:
    kube.api.install(cozebot_body())
    kube.api.faults.append(Fault("PATCH", "/deployments/support", 500))

    with pytest.raises(ReconcileError) as raised:
        await reconciler.reconcile(NAMESPACE, "support")

    assert not raised.value.permanent
    failed = condition(kube, "Reconciled")
    assert (failed["status"], failed["reason"]) == ("False", "ApplyFailed")
    assert failed["message"].startswith("Deployment/support:")

    result = await reconciler.reconcile(NAMESPACE, "support")
    assert result is not None
    assert result.applied == ("Deployment/support", "PodDisruptionBudget/support")
    assert condition(kube, "Reconciled")["status"] == "True"
