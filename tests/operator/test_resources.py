"""The desired children as pure functions: the rules on their own, and a property over every valid spec.

The property: for any CozeBot the CRD accepts (and the gateway's rollout model accepts), every child
validates against the Kubernetes 1.32 schemas in strict mode, carries exactly one controller owner
reference to the CozeBot's uid, and uses only names and labels Kubernetes allows.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cozegate.operator import InvalidSpec, OperatorConfig, cozebot_schema, desired_children
from cozegate.operator.crd import BOT_NAME_PATTERN, LABEL_VALUE_PATTERN, ROLLOUT_NAME_PATTERN, TENANT_PATTERN
from cozegate.operator.resources import ANNOTATION_SPEC_HASH, is_subset
from tests.operator.conftest import CONFIG, cozebot_body, stored

K8S = "1.32"
DNS_1123_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_1123_SUBDOMAIN = rf"(?=.{{1,253}}$){DNS_1123_LABEL}(\.{DNS_1123_LABEL})*"
LABEL_KEY = rf"({DNS_1123_SUBDOMAIN}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{{0,61}}[A-Za-z0-9])?"
LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?"
CRD_VALIDATOR = jsonschema.Draft202012Validator(cozebot_schema())


def by_kind(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in manifests}


def test_an_autoscaled_bot_leaves_replicas_to_the_autoscaler() -> None:
    manifests = by_kind(desired_children(stored(cozebot_body(replicas=3, autoscaling={"maxReplicas": 9})), CONFIG))
    assert "replicas" not in manifests["Deployment"]["spec"]
    hpa = manifests["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "support"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 9)


def test_replicas_zero_stops_the_bot_even_with_autoscaling() -> None:
    manifests = by_kind(desired_children(stored(cozebot_body(replicas=0, autoscaling={"maxReplicas": 9})), CONFIG))
    assert manifests["Deployment"]["spec"]["replicas"] == 0
    assert "HorizontalPodAutoscaler" not in manifests


def test_resources_take_the_spec_over_the_defaults() -> None:
    body = stored(cozebot_body(resources={"requests": {"cpu": "500m"}, "limits": {"memory": "1Gi", "cpu": 2}}))
    (container,) = by_kind(desired_children(body, CONFIG))["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "256Mi"},
        "limits": {"memory": "1Gi", "cpu": 2},
    }


def test_the_spec_hash_changes_with_the_manifest_and_only_then() -> None:
    first = by_kind(desired_children(stored(cozebot_body(replicas=2)), CONFIG))
    same = by_kind(desired_children(stored(cozebot_body(replicas=2)), CONFIG))
    other = by_kind(desired_children(stored(cozebot_body(replicas=3)), CONFIG))

    def spec_hash(kind: str, manifests: dict[str, dict[str, Any]]) -> str:
        return str(manifests[kind]["metadata"]["annotations"][ANNOTATION_SPEC_HASH])

    assert spec_hash("Deployment", first) == spec_hash("Deployment", same)
    assert spec_hash("Deployment", first) != spec_hash("Deployment", other)
    assert spec_hash("Service", first) == spec_hash("Service", other)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tenant": "Acme"}, "spec.tenant"),
        ({"version": "v1 beta"}, "spec.version"),
        ({"replicas": -1}, "spec.replicas"),
        ({"env": "qa"}, "spec.env"),
        ({"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}, "minReplicas must not exceed maxReplicas"),
        ({"resources": {"requests": {"cpu": "lots"}}}, "not a Kubernetes quantity"),
        (
            {"rollout": {"experiment": "x", "variants": [{"name": "a", "botId": "b", "weightBps": 10}]}},
            "weights add up to 10 bps",
        ),
    ],
)
def test_a_spec_the_workers_cannot_run_is_refused_by_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(message)):
        desired_children(stored(cozebot_body(**change)), CONFIG)


def test_a_name_that_cannot_name_a_service_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="DNS-1035"):
        desired_children(stored(cozebot_body(name="7-eleven")), CONFIG)


def test_is_subset_sees_server_additions_as_equal_and_changes_as_different() -> None:
    wanted = {"spec": {"ports": [{"port": 80}], "replicas": 1}}
    assert is_subset(wanted, {"spec": {"ports": [{"port": 80, "protocol": "TCP"}], "replicas": 1, "x": 2}})
    assert not is_subset(wanted, {"spec": {"ports": [{"port": 80}, {"port": 81}], "replicas": 1}})
    assert not is_subset(wanted, {"spec": {"ports": [{"port": 80}], "replicas": True}})
    assert not is_subset(wanted, {"spec": {"ports": [{"port": 80}]}})


# --- the property ------------------------------------------------------------------------------------

names = st.from_regex(BOT_NAME_PATTERN, fullmatch=True)
namespaces = st.from_regex(rf"\A{DNS_1123_LABEL}\Z", fullmatch=True)
quantities = st.one_of(
    st.integers(0, 64), st.sampled_from(["100m", "1", "2.5", "250m", "128Mi", "1Gi", "1.5G", "512Ki", "1e3"])
)
compute = st.fixed_dictionaries({}, optional={"cpu": quantities, "memory": quantities})


@st.composite
def rollouts(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 16))
    cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=count - 1, max_size=count - 1)))
    weights = [b - a for a, b in zip([0, *cuts], [*cuts, 10_000], strict=True)]
    variant_names = draw(
        st.lists(
            st.from_regex(ROLLOUT_NAME_PATTERN, fullmatch=True).filter(lambda n: len(n) <= 64),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    bot_ids = draw(st.lists(st.text(min_size=1, max_size=128), min_size=count, max_size=count))
    return {
        "experiment": draw(st.from_regex(ROLLOUT_NAME_PATTERN, fullmatch=True).filter(lambda n: len(n) <= 64)),
        "variants": [
            {"name": n, "botId": b, "weightBps": w} for n, b, w in zip(variant_names, bot_ids, weights, strict=True)
        ],
    }


@st.composite
def autoscalings(draw: st.DrawFn) -> dict[str, Any]:
    low = draw(st.integers(1, 1000))
    scaling: dict[str, Any] = {"maxReplicas": draw(st.integers(low, 1000))}
    if draw(st.booleans()):
        scaling["minReplicas"] = low
    if draw(st.booleans()):
        scaling["targetCPUUtilizationPercentage"] = draw(st.integers(1, 100))
    return scaling


specs = st.fixed_dictionaries(
    {
        "botId": st.text(min_size=1, max_size=128),
        "tenant": st.from_regex(TENANT_PATTERN, fullmatch=True),
        "version": st.from_regex(LABEL_VALUE_PATTERN, fullmatch=True).filter(lambda v: len(v) <= 63),
    },
    optional={
        "env": st.sampled_from(["dev", "staging", "prod"]),
        "replicas": st.integers(0, 1000),
        "paused": st.booleans(),
        "rollout": rollouts(),
        "resources": st.fixed_dictionaries({}, optional={"requests": compute, "limits": compute}),
        "autoscaling": autoscalings(),
    },
)


def assert_kubernetes_names(manifest: dict[str, Any]) -> None:
    meta = manifest["metadata"]
    assert re.fullmatch(DNS_1123_SUBDOMAIN, meta["name"]), meta["name"]
    if manifest["kind"] == "Service":
        assert re.fullmatch(BOT_NAME_PATTERN, meta["name"]), "a Service name must be a DNS-1035 label"
    label_sets = [meta["labels"]]
    template = (manifest.get("spec") or {}).get("template")
    if template:
        label_sets.append(template["metadata"]["labels"])
    for labels in label_sets:
        for key, value in labels.items():
            assert re.fullmatch(LABEL_KEY, key), key
            assert len(key.split("/")[-1]) <= 63, key
            assert re.fullmatch(LABEL_VALUE, value), (key, value)
            assert len(value) <= 63, (key, value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=names,
    namespace=namespaces,
    spec=specs,
    uid=st.uuids().map(str),
    image=st.sampled_from(["a:1", "r.io/x/y@sha256:" + "0" * 64]),
)
def test_any_valid_spec_gives_valid_children_controlled_by_the_cozebot(
    name: str, namespace: str, spec: dict[str, Any], uid: str, image: str
) -> None:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    body = {"apiVersion": "cozegate.io/v1alpha1", "kind": "CozeBot", "metadata": metadata, "spec": spec}
    assert not list(CRD_VALIDATOR.iter_errors(body)), "the strategy must only make CozeBots the CRD accepts"
    metadata.update(uid=uid, generation=1)

    manifests = desired_children(body, OperatorConfig(image=image))

    kinds = [m["kind"] for m in manifests]
    assert kinds[:4] == ["ConfigMap", "Service", "Deployment", "PodDisruptionBudget"]
    autoscaled = "autoscaling" in spec and spec.get("replicas", 1) > 0
    assert ("HorizontalPodAutoscaler" in kinds) == autoscaled
    assert ("replicas" in manifests[2]["spec"]) == (not autoscaled)
    for manifest in manifests:
        kubernetes_validate.validate(manifest, K8S, strict=True)
        owners = manifest["metadata"]["ownerReferences"]
        controllers = [r for r in owners if r.get("controller")]
        assert len(owners) == 1
        assert len(controllers) == 1
        assert controllers[0]["uid"] == uid
        assert controllers[0]["kind"] == "CozeBot"
        assert controllers[0]["name"] == name
        assert manifest["metadata"]["namespace"] == namespace
        assert_kubernetes_names(manifest)
