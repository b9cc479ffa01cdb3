"""``KubernetesApi`` (kubernetes_asyncio) against the fake API server, and the fake's own fidelity.

The reconcile tests are only as good as the fake, so the Kubernetes behaviours they rely on are pinned
here: Status bodies, conflicts, no-op applies, generation, the status subresource, field managers,
preconditions, finalizers, garbage collection and watches.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from cozegate.operator import KubeApiError, ObjectRef
from cozegate.operator.kube_api import KubernetesApi, object_path
from tests.conftest import free_port
from tests.operator.conftest import NAMESPACE
from tests.operator.fake_kube_api import FakeKubeServer
from tests.support.waiting import wait_for

CM = ObjectRef("v1", "ConfigMap", NAMESPACE, "settings")


def config_map(name: str = "settings", owners: list[dict[str, Any]] | None = None, **data: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    if owners:
        meta["ownerReferences"] = owners
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def deployment(replicas: int = 1, image: str = "app:1") -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": image}]}},
        },
    }


def owner_ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
    }


@pytest.fixture
def api(api_client: ApiClient) -> KubernetesApi:
    return KubernetesApi(api_client)


def test_paths_follow_the_kubernetes_rest_layout() -> None:
    assert object_path(CM) == "/api/v1/namespaces/bots/configmaps/settings"
    deploy = ObjectRef("apps/v1", "Deployment", "bots", "web")
    assert object_path(deploy) == "/apis/apps/v1/namespaces/bots/deployments/web"
    with pytest.raises(ValueError, match="does not manage"):
        object_path(ObjectRef("v1", "Pod", "bots", "p"))


async def test_errors_are_status_bodies_and_become_kube_api_errors(kube: FakeKubeServer, api: KubernetesApi) -> None:
    missing = httpx.get(kube.url + object_path(CM))
    assert missing.status_code == 404
    body = missing.json()
    assert (body["kind"], body["status"], body["reason"], body["code"]) == ("Status", "Failure", "NotFound", 404)
    assert await api.get(CM) is None
    assert await api.delete(CM) is False

    collection = kube.url + "/api/v1/namespaces/bots/configmaps"
    assert httpx.post(collection, json=config_map()).status_code == 201
    again = httpx.post(collection, json=config_map())
    assert (again.status_code, again.json()["reason"]) == (409, "AlreadyExists")

    stale = config_map(x="1")
    stale["metadata"]["resourceVersion"] = "1"
    conflict = httpx.put(kube.url + object_path(CM), json=stale)
    assert (conflict.status_code, conflict.json()["reason"]) == (409, "Conflict")

    broken = deployment()
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(KubeApiError) as raised:
        await api.apply(broken)
    assert (raised.value.status, raised.value.reason) == (422, "Invalid")
    assert "imagePullPolicyy" in raised.value.message
    assert not raised.value.retryable


async def test_an_unreachable_server_is_a_retryable_error() -> None:
    client = ApiClient(Configuration(host=f"http://127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(KubeApiError) as raised:
            await KubernetesApi(client, request_timeout=5).get(CM)
    finally:
        await client.close()
    assert (raised.value.status, raised.value.reason) == (0, "Unreachable")
    assert raised.value.retryable


async def test_apply_creates_then_changes_only_what_changed(kube: FakeKubeServer, api: KubernetesApi) -> None:
    created = await api.apply(deployment(replicas=1))
    assert (created["metadata"]["generation"], created["spec"]["replicas"]) == (1, 1)
    rv = created["metadata"]["resourceVersion"]

    same = await api.apply(deployment(replicas=1))
    assert same["metadata"]["resourceVersion"] == rv, "a no-op apply must not write"

    labelled = deployment(replicas=1)
    labelled["metadata"]["labels"] = {"team": "bots"}
    relabelled = await api.apply(labelled)
    assert relabelled["metadata"]["resourceVersion"] != rv
    assert relabelled["metadata"]["generation"] == 1, "metadata changes do not bump the generation"

    scaled = await api.apply(deployment(replicas=3))
    assert (scaled["metadata"]["generation"], scaled["spec"]["replicas"]) == (2, 3)
    assert "labels" not in scaled["metadata"], "fields the manager stopped applying are removed"

    ref = ObjectRef.of(deployment())
    written = await api.patch_status(ref, {"readyReplicas": 3, "replicas": 3})
    assert written["status"]["readyReplicas"] == 3
    assert written["metadata"]["generation"] == 2, "status writes do not bump the generation"
    with_status = deployment(replicas=3)
    with_status["status"] = {"readyReplicas": 0}
    again = await api.apply(with_status)
    assert again["status"]["readyReplicas"] == 3, "status in a main-resource write is ignored"


async def test_field_managers_conflict_unless_forced(kube: FakeKubeServer, api: KubernetesApi) -> None:
    await api.apply(deployment(replicas=2))
    kube.api.merge("apps/v1", "Deployment", NAMESPACE, "web", {"spec": {"replicas": 5}}, manager="someone")

    body = json.dumps(deployment(replicas=2))
    url = kube.url + object_path(ObjectRef.of(deployment()))
    headers = {"content-type": "application/apply-patch+yaml"}
    unforced = httpx.patch(url, content=body, headers=headers, params={"fieldManager": "cozegate-operator"})
    assert (unforced.status_code, unforced.json()["reason"]) == (409, "Conflict")
    nameless = httpx.patch(url, content=body, headers=headers)
    assert nameless.status_code == 400

    forced = await api.apply(deployment(replicas=2))  # KubernetesApi always forces: the CozeBot is the truth
    assert forced["spec"]["replicas"] == 2


async def test_a_deployment_selector_cannot_change(api: KubernetesApi) -> None:
    await api.apply(deployment())
    moved = deployment()
    moved["spec"]["selector"]["matchLabels"]["version"] = "2"
    moved["spec"]["template"]["metadata"]["labels"]["version"] = "2"
    with pytest.raises(KubeApiError, match="field is immutable"):
        await api.apply(moved)


async def test_delete_honours_the_uid_precondition(kube: FakeKubeServer, api: KubernetesApi) -> None:
    created = await api.apply(config_map(a="1"))
    with pytest.raises(KubeApiError) as raised:
        await api.delete(CM, uid="someone-else")
    assert raised.value.status == 409
    assert await api.delete(CM, uid=created["metadata"]["uid"]) is True
    assert await api.get(CM) is None


async def test_garbage_collection_follows_owner_references(kube: FakeKubeServer) -> None:
    owner = kube.api.install(config_map("owner"))
    other = kube.api.install(config_map("other-owner"))
    child = kube.api.install(config_map("child", owners=[owner_ref(owner)]))
    kube.api.install(config_map("grandchild", owners=[owner_ref(child)]))
    kube.api.install(config_map("shared", owners=[owner_ref(owner), {**owner_ref(other), "controller": False}]))

    kube.api.remove("v1", "ConfigMap", NAMESPACE, "owner")

    def names() -> set[str]:
        return {o["metadata"]["name"] for o in kube.api.list_objects("v1", "ConfigMap", NAMESPACE)}

    wait_for(lambda: names() == {"other-owner", "shared"}, timeout=10)

    orphan_owner = kube.api.install(config_map("orphaner"))
    kube.api.install(config_map("kept", owners=[owner_ref(orphan_owner)]))
    kube.api.remove("v1", "ConfigMap", NAMESPACE, "orphaner", propagationPolicy="Orphan")
    kept = kube.api.get("v1", "ConfigMap", NAMESPACE, "kept")
    assert kept is not None
    assert "ownerReferences" not in kept["metadata"]


def test_finalizers_hold_a_deletion_until_removed(kube: FakeKubeServer) -> None:
    held = config_map("held")
    held["metadata"]["finalizers"] = ["example.com/cleanup"]
    kube.api.install(held)

    kube.api.remove("v1", "ConfigMap", NAMESPACE, "held")
    marked = kube.api.get("v1", "ConfigMap", NAMESPACE, "held")
    assert marked is not None
    assert marked["metadata"]["deletionTimestamp"]

    kube.api.merge("v1", "ConfigMap", NAMESPACE, "held", {"metadata": {"finalizers": None}})
    assert kube.api.get("v1", "ConfigMap", NAMESPACE, "held") is None


def test_watches_stream_changes_after_a_resource_version(kube: FakeKubeServer) -> None:
    listing = httpx.get(kube.url + "/api/v1/namespaces/bots/configmaps").json()
    since = listing["metadata"]["resourceVersion"]
    kube.api.install(config_map(a="1"))
    kube.api.merge("v1", "ConfigMap", NAMESPACE, "settings", {"data": {"a": "2"}})
    kube.api.install(config_map("unrelated", x="1"))

    params = {"watch": "true", "resourceVersion": since, "timeoutSeconds": "1", "labelSelector": ""}
    with httpx.stream("GET", kube.url + "/api/v1/namespaces/bots/configmaps", params=params) as stream:
        events = [json.loads(line) for line in stream.iter_lines() if line]
    seen = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    assert seen == [("ADDED", "settings"), ("MODIFIED", "settings"), ("ADDED", "unrelated")]


def test_discovery_serves_the_installed_crd(kube: FakeKubeServer) -> None:
    groups = httpx.get(kube.url + "/apis").json()["groups"]
    assert "cozegate.io" in {g["name"] for g in groups}
    resources = httpx.get(kube.url + "/apis/cozegate.io/v1alpha1").json()["resources"]
    assert {r["name"] for r in resources} == {"cozebots", "cozebots/status"}
