"""deploy/ checked without a cluster: the CRD file is the CRD in code, every manifest (generated, rendered by
kubectl's built-in kustomize, or an example) validates against the Kubernetes 1.32 schemas in strict mode,
CozeBots against the CRD's schema, and the operator's RBAC is exactly what its code uses.

Under CI (``CI=true``) a missing kubectl fails the run instead of skipping the kustomize tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from cozegate.operator import cozebot_crd, cozebot_schema, desired_children
from cozegate.operator.config import SECRET_KEYS
from cozegate.operator.crd import render_yaml
from cozegate.operator.handlers import CHILD_RESOURCES
from cozegate.operator.kube_api import PLURALS
from cozegate.settings import Settings
from tests.operator.conftest import CONFIG, cozebot_body, stored

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BASE = DEPLOY / "kustomize" / "base"
PRODUCTION = DEPLOY / "kustomize" / "overlays" / "production"
K8S = "1.32"
CRD_VALIDATOR = jsonschema.Draft202012Validator(cozebot_schema())


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        message = "kubectl is not on PATH: it renders deploy/kustomize (kustomize is built into kubectl >= 1.14)"
        if in_ci():
            pytest.fail(f"{message}; CI must install it", pytrace=False)
        pytest.skip(message)
    return found


def render(target: Path) -> list[dict[str, Any]]:
    result = subprocess.run([kubectl(), "kustomize", str(target)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


# --- the CRD ---------------------------------------------------------------------------------------------


def test_the_crd_file_is_the_crd_in_code() -> None:
    text = (DEPLOY / "crd" / "cozebot.yaml").read_text()
    hint = "deploy/crd/cozebot.yaml is stale: python -m cozegate.operator > deploy/crd/cozebot.yaml"
    assert yaml.safe_load(text) == cozebot_crd(), hint
    assert text == render_yaml(), hint


def schema_nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in (node.get("properties") or {}).items():
        yield from schema_nodes(sub, f"{path}.{name}")
    if "items" in node:
        yield from schema_nodes(node["items"], f"{path}[]")


def test_the_crd_is_valid_and_structural() -> None:
    crd = cozebot_crd()
    kubernetes_validate.validate(crd, K8S, strict=True)
    schema = cozebot_schema()
    for path, node in schema_nodes(schema):
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, path
        else:
            assert node.get("type") in ("object", "array", "string", "integer", "boolean", "number"), path
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            assert set(keys) <= set(node["items"].get("required", [])), f"{path}: map keys must be required"
        if "default" in node:
            jsonschema.Draft202012Validator(node).validate(node["default"])
        for required in node.get("required", []):
            assert required in node.get("properties", {}), f"{path}: {required} is required but not declared"
    assert set(schema["properties"]["metadata"]["properties"]) == {"name"}, "only name may be constrained"
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    for column in version["additionalPrinterColumns"]:
        if column["jsonPath"] == ".metadata.creationTimestamp":
            assert column["type"] == "date"
            continue
        target = schema
        for part in column["jsonPath"].strip(".").split("."):
            target = target["properties"][part]  # a KeyError names a column that shows nothing
        assert column["type"] == target["type"], column


def test_the_examples_are_cozebots_the_crd_and_the_operator_accept() -> None:
    examples = load_all(DEPLOY / "examples" / "cozebot.yaml")
    assert len(examples) == 2
    for example in examples:
        assert not list(CRD_VALIDATOR.iter_errors(example)), example["metadata"]["name"]
        manifests = desired_children(stored(example), CONFIG)
        for manifest in manifests:
            kubernetes_validate.validate(manifest, K8S, strict=True)
    assert {m["kind"] for m in desired_children(stored(examples[1]), CONFIG)} >= {"HorizontalPodAutoscaler"}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"tenant": "ACME"}, "tenant"),
        ({"replicas": -1}, "replicas"),
        ({"env": "qa"}, "env"),
        ({"botId": ""}, "botId"),
        ({"version": "has space"}, "version"),
        ({"autoscaling": {"minReplicas": 2}}, "maxReplicas"),
        ({"rollout": {"experiment": "x", "variants": [{"name": "a", "botId": "b", "weightBps": 10001}]}}, "weightBps"),
        ({"resources": {"requests": {"cpu": "a lot"}}}, "cpu"),
    ],
)
def test_the_crd_schema_refuses_broken_cozebots(change: dict[str, Any], where: str) -> None:
    errors = list(CRD_VALIDATOR.iter_errors(cozebot_body(**change)))
    assert errors, change
    assert any(where in ".".join(map(str, e.absolute_path)) or where in e.message for e in errors), errors


def test_the_crd_schema_refuses_a_name_no_service_can_have() -> None:
    assert list(CRD_VALIDATOR.iter_errors(cozebot_body(name="7-eleven")))


# --- generated children ------------------------------------------------------------------------------------

VARIANTS = {
    "minimal": {},
    "autoscaling on": {"replicas": 2, "autoscaling": {"minReplicas": 2, "maxReplicas": 10}},
    "autoscaling, stopped": {"replicas": 0, "autoscaling": {"maxReplicas": 10}},
    "rollout and resources": {
        "env": "staging",
        "rollout": {"experiment": "e1", "variants": [{"name": "a", "botId": "1", "weightBps": 10_000}]},
        "resources": {"requests": {"cpu": 1, "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
    },
    "paused": {"paused": True, "replicas": 5},
}


@pytest.mark.parametrize("spec", VARIANTS.values(), ids=VARIANTS.keys())
def test_generated_children_validate_in_strict_mode(spec: dict[str, Any]) -> None:
    manifests = desired_children(stored(cozebot_body(**spec)), CONFIG)
    for manifest in manifests:
        assert kubernetes_validate.validate(manifest, K8S, strict=True) == K8S
    kinds = {m["kind"] for m in manifests}
    assert kinds >= {"ConfigMap", "Service", "Deployment", "PodDisruptionBudget"}
    autoscaled = "autoscaling" in spec and spec.get("replicas", 1) > 0
    assert ("HorizontalPodAutoscaler" in kinds) == autoscaled


def test_the_validator_catches_a_broken_manifest() -> None:
    deployment = next(m for m in desired_children(stored(cozebot_body()), CONFIG) if m["kind"] == "Deployment")
    kubernetes_validate.validate(deployment, K8S, strict=True)

    misspelled = yaml.safe_load(yaml.safe_dump(deployment).replace("containerPort:", "containerport:"))
    with pytest.raises(kubernetes_validate.ValidationError, match="containerport"):
        kubernetes_validate.validate(misspelled, K8S, strict=True)

    wrong_type = yaml.safe_load(yaml.safe_dump(deployment))
    wrong_type["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError, match="'two' is not of type"):
        kubernetes_validate.validate(wrong_type, K8S, strict=True)


# --- kustomize -----------------------------------------------------------------------------------------------


def test_kubectl_is_required_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="kubectl is not on PATH"):
        kubectl()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        kubectl()


def test_the_base_renders_to_valid_manifests() -> None:
    docs = render(BASE)
    for doc in docs:
        kubernetes_validate.validate(doc, K8S, strict=True)
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    assert kinds == [
        "ClusterRole/cozegate-operator",
        "ClusterRoleBinding/cozegate-operator",
        "ConfigMap/cozegate-gateway",
        "CustomResourceDefinition/cozebots.cozegate.io",
        "Deployment/cozegate-gateway",
        "Deployment/cozegate-operator",
        "HorizontalPodAutoscaler/cozegate-gateway",
        "Job/cozegate-migrate",
        "Namespace/cozegate",
        "PodDisruptionBudget/cozegate-gateway",
        "Role/cozegate-gateway",
        "RoleBinding/cozegate-gateway",
        "Service/cozegate-gateway",
        "ServiceAccount/cozegate-gateway",
        "ServiceAccount/cozegate-operator",
    ]
    cluster_scoped = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
    for doc in docs:
        assert (doc["metadata"].get("namespace") == "cozegate") == (doc["kind"] not in cluster_scoped), doc["kind"]
    assert find(docs, "CustomResourceDefinition", "cozebots.cozegate.io") == cozebot_crd()
    # the gateway may read and patch CozeBots of its namespace (scaling bots), nothing more
    assert find(docs, "Role", "cozegate-gateway")["rules"] == [
        {"apiGroups": ["cozegate.io"], "resources": ["cozebots"], "verbs": ["get", "patch"]}
    ]
    gateway = find(docs, "Deployment", "cozegate-gateway")["spec"]["template"]["spec"]
    assert gateway["serviceAccountName"] == "cozegate-gateway"
    namespace_env = next(e for e in gateway["containers"][0]["env"] if e["name"].endswith("KUBERNETES_NAMESPACE"))
    assert namespace_env["name"] == "COZEGATE_LIFECYCLE_KUBERNETES_NAMESPACE"  # a real setting
    assert namespace_env["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}  # follows overlays


def test_the_gateway_serves_with_probes_on_external_backends() -> None:
    docs = render(BASE)
    gateway = find(docs, "Deployment", "cozegate-gateway")
    assert gateway["spec"]["replicas"] >= 2
    serve = container(gateway)
    assert serve["command"] == ["cozegate", "serve"]
    assert serve["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert serve["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in serve["env"] if "secretKeyRef" in e["valueFrom"]}
    assert {name: (r["name"], r["key"]) for name, r in refs.items()} == {
        name: ("cozegate-backends", key) for name, key in SECRET_KEYS.items()
    }
    assert not refs["COZEGATE_DATABASE_URL"].get("optional")
    assert not refs["COZEGATE_REDIS_URL"].get("optional")
    service = find(docs, "Service", "cozegate-gateway")
    assert service["spec"]["selector"] == gateway["spec"]["selector"]["matchLabels"]
    pdb = find(docs, "PodDisruptionBudget", "cozegate-gateway")
    assert pdb["spec"]["selector"] == gateway["spec"]["selector"]
    hpa = find(docs, "HorizontalPodAutoscaler", "cozegate-gateway")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "cozegate-gateway"
    migrate = find(docs, "Job", "cozegate-migrate")
    assert container({"spec": migrate["spec"]})["command"] == ["cozegate", "migrate"]
    operator = find(docs, "Deployment", "cozegate-operator")
    run = container(operator)
    assert run["command"] == ["cozegate", "operator"]
    assert operator["spec"]["template"]["spec"]["serviceAccountName"] == "cozegate-operator"
    assert run["livenessProbe"]["httpGet"]["port"] == "health"
    assert "--liveness=http://0.0.0.0:8080/healthz" in run["args"]


def test_the_settings_configmaps_hold_only_real_settings() -> None:
    for docs in (render(BASE), render(PRODUCTION)):
        data = find(docs, "ConfigMap", "cozegate-gateway")["data"]
        values = {}
        for key, value in data.items():
            assert key.startswith("COZEGATE_"), key
            name = key.removeprefix("COZEGATE_").lower()
            assert name in Settings.model_fields, f"{key} is not a cozegate setting"
            values[name] = value
        Settings.model_validate(values)
    worker = next(m for m in desired_children(stored(cozebot_body()), CONFIG) if m["kind"] == "ConfigMap")
    settings = {k.removeprefix("COZEGATE_").lower(): v for k, v in worker["data"].items()}
    assert set(settings) <= set(Settings.model_fields)
    Settings.model_validate(settings)


def rbac(docs: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    rules: dict[tuple[str, str], set[str]] = {}
    for rule in find(docs, "ClusterRole", "cozegate-operator")["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                rules.setdefault((group, resource), set()).update(rule["verbs"])
    return rules


def test_the_operators_rbac_is_exactly_what_it_uses() -> None:
    docs = render(BASE)
    children = {"get", "list", "watch", "create", "patch"}
    assert rbac(docs) == {
        ("cozegate.io", "cozebots"): {"get", "list", "watch", "patch"},
        ("cozegate.io", "cozebots/status"): {"get", "patch"},
        ("cozegate.io", "cozebots/finalizers"): {"update"},
        ("apps", "deployments"): children,
        ("", "services"): children,
        ("", "configmaps"): children,
        ("policy", "poddisruptionbudgets"): children,
        ("autoscaling", "horizontalpodautoscalers"): children | {"delete"},
        ("", "events"): {"create"},
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
        ("", "namespaces"): {"list", "watch"},
    }
    rules = rbac(docs)
    for api_version, _ in PLURALS:  # everything KubeApi reads or applies
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        plural = PLURALS[(api_version, _)]
        assert {"get", "patch"} <= rules[(group, plural)], plural
    for group, _, plural in CHILD_RESOURCES:  # everything kopf watches
        assert {"list", "watch", "create"} <= rules[(group, plural)], plural
    binding = find(docs, "ClusterRoleBinding", "cozegate-operator")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cozegate-operator", "namespace": "cozegate"}]


def test_the_production_overlay_scales_up_and_keeps_the_worker_image_in_step(tmp_path: Path) -> None:
    docs = render(PRODUCTION)
    for doc in docs:
        kubernetes_validate.validate(doc, K8S, strict=True)
    gateway = find(docs, "Deployment", "cozegate-gateway")
    assert gateway["spec"]["replicas"] == 3
    assert container(gateway)["resources"]["requests"]["cpu"] == "1"
    hpa = find(docs, "HorizontalPodAutoscaler", "cozegate-gateway")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 20)
    assert len(gateway["spec"]["template"]["spec"]["topologySpreadConstraints"]) == 2

    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    overlay = copy / "kustomize" / "overlays" / "production" / "kustomization.yaml"
    overlay.write_text(overlay.read_text().replace('newTag: "0.1.0"', 'newTag: "9.9.9"'))
    docs = render(overlay.parent)
    operator = container(find(docs, "Deployment", "cozegate-operator"))
    worker_image = next(e["value"] for e in operator["env"] if e["name"] == "COZEGATE_OPERATOR_IMAGE")
    images = {container(find(docs, "Deployment", n))["image"] for n in ("cozegate-gateway", "cozegate-operator")}
    assert images == {"ghcr.io/cozegate/cozegate:9.9.9"}
    assert worker_image == "ghcr.io/cozegate/cozegate:9.9.9"


def test_no_secret_values_are_deployed_and_the_example_is_only_an_example() -> None:
    example_path = BASE / "backends-secret.example.yaml"
    (example,) = load_all(example_path)
    kubernetes_validate.validate(example, K8S, strict=True)
    assert set(example["stringData"]) == set(SECRET_KEYS.values())
    assert all("CHANGE-ME" in value for value in example["stringData"].values())
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert example_path.name not in kustomization["resources"]
    for docs in (render(BASE), render(PRODUCTION)):
        assert not [d for d in docs if d["kind"] == "Secret"]
    for path in DEPLOY.rglob("*.yaml"):
        if path != example_path:
            assert not re.search(r"(?i)(password|token|secret)\s*:\s*['\"]?[A-Za-z0-9+/]{16,}", path.read_text()), path
