"""deploy/prometheus and deploy/grafana checked without a server.

promtool validates the alert rules, runs their unit tests (alerts_test.yml) and checks the example
configuration; every PromQL query of the dashboards goes through promtool as a recording rule; every
``cozegate_*`` name an alert or a panel uses must be exported by ``cozegate.observability.metrics``, so
renaming a metric breaks this test until the rules and dashboards follow. Under CI (``CI=true``) a missing
promtool fails the run instead of skipping.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cozegate.observability.metrics import REGISTRY
from cozegate.operator import desired_children
from tests.conftest import IN_CI
from tests.operator.conftest import CONFIG, cozebot_body, stored

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERTS_TEST = PROMETHEUS / "alerts_test.yml"
PROMETHEUS_CONFIG = PROMETHEUS / "prometheus.yml"
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
BASE = REPO / "deploy" / "kustomize" / "base"

METRIC_NAME = re.compile(r"\bcozegate_[A-Za-z0-9_]+")
SEVERITIES = {"critical", "warning", "info"}
BY = r"\s*(?:(?:by|without)\s*\([^()]*\)\s*)?"  # an aggregation's optional grouping
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Grafana's built-in variables, replaced by values of the right kind before promtool sees a query.
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "30s",
    "__range": "6h",
    "__range_s": "21600",
    "__range_ms": "21600000",
    "__interval_ms": "30000",
}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")
# Sample names per metric type, as prometheus_client exposes them.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def promtool() -> str:
    """promtool on PATH, or the one scripts/test-tools.sh took out of Debian's package."""
    local = REPO / ".tools" / "bin" / "promtool"
    found = shutil.which("promtool") or (str(local) if local.exists() else None)
    if found is None:
        message = "no promtool: run scripts/test-tools.sh (or install Debian's `prometheus` package)"
        if IN_CI:
            pytest.fail(f"{message}; CI requires it", pytrace=False)
        pytest.skip(message)
    return found


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120, check=False)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in DASHBOARDS}


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, also those inside collapsed rows."""
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query", "")
    return str(query.get("query", "") if isinstance(query, dict) else query)


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target, annotation and query variable."""
    for panel in all_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} target {target['refId']}", target["expr"]
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("expr"):
            yield f"annotation {annotation['name']!r}", annotation["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable_query(variable)
        # label_values(selector, label) and query_result(expr) hold PromQL; label_values(label) holds none
        found = re.fullmatch(r"\s*label_values\((.+),\s*\w+\s*\)\s*|\s*query_result\((.+)\)\s*", query)
        if found:
            yield f"variable {variable['name']!r}", found.group(1) or found.group(2)


def substitute(expr: str, variables: set[str]) -> str:
    """The query as Grafana sends it, with every template variable replaced by a valid value."""

    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name in BUILTINS:
            return BUILTINS[name]
        if name in variables:
            return ".*"  # the variables are used as label matchers: instance=~"$instance"
        return match.group(0)  # unknown: left in place, and reported

    return VARIABLE.sub(value, expr)


def exported_sample_names() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


# --- Prometheus -------------------------------------------------------------------------------------


def test_alert_rules_are_valid() -> None:
    assert_ok(run_promtool("check", "rules", str(ALERTS)))


def test_alert_rule_unit_tests_pass() -> None:
    assert_ok(run_promtool("test", "rules", str(ALERTS_TEST)))


def test_every_alert_has_a_firing_and_a_quiet_test() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in load_yaml(ALERTS_TEST)["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - fires == set(), "alerts without a test where they fire"
    assert names - quiet == set(), "alerts without a test where they stay silent"
    assert (fires | quiet) - names == set(), "tests of alerts that do not exist"


def test_alerts_say_how_bad_and_what_to_do() -> None:
    groups = load_yaml(ALERTS)["groups"]
    assert [group["name"] for group in groups] == ["cozegate"]
    rules = alert_rules()
    assert rules
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in rules:
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]


def test_rates_are_summed_and_database_gauges_maxed_over_replicas() -> None:
    """cozegate_inbox_depth and cozegate_incidents_open come from the shared database: a sum over
    replicas would multiply them; a counter's rate must be aggregated before comparing it."""
    for rule in alert_rules():
        expr = rule["expr"]
        for gauge in re.finditer(r"\b(cozegate_inbox_depth|cozegate_incidents_open)\b", expr):
            assert not re.search(r"\bsum\b" + BY + r"\($", expr[: gauge.start()]), f"{rule['alert']}: max, not sum"
        for used in re.finditer(r"\b(rate|increase)\(", expr):
            before = expr[: used.start()]
            assert re.search(r"\b(sum|max|min|count)\b" + BY + r"\($", before), f"{rule['alert']}: aggregate rates"


def check_kubernetes_sd(configs: list[dict[str, Any]]) -> None:
    """What promtool cannot check when it was built without Kubernetes discovery."""
    known = {
        "role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata", "basic_auth",
        "authorization", "oauth2", "tls_config", "proxy_url", "follow_redirects", "enable_http2",
        "bearer_token", "bearer_token_file",
    }  # fmt: skip
    for config in configs:
        assert config["role"] in {"node", "pod", "service", "endpoints", "endpointslice", "ingress"}, config
        assert set(config) <= known, f"unknown kubernetes_sd_configs fields: {set(config) - known}"
        assert set(config.get("namespaces", {})) <= {"names", "own_namespace"}, config


def test_prometheus_config_is_valid(tmp_path: Path) -> None:
    result = run_promtool("check", "config", str(PROMETHEUS_CONFIG))
    if result.returncode != 0 and "field kubernetes_sd_configs not found" in result.stdout + result.stderr:
        # Debian builds Prometheus without Kubernetes discovery: check the rest of the file, with the
        # discovery of those jobs replaced by a static target (their relabelling is still checked).
        config = load_yaml(PROMETHEUS_CONFIG)
        for job in config["scrape_configs"]:
            discovery = job.pop("kubernetes_sd_configs", None)
            if discovery is not None:
                check_kubernetes_sd(discovery)
                job["static_configs"] = [{"targets": ["pod.example:8000"]}]
        config["rule_files"] = [str(PROMETHEUS / name) for name in config["rule_files"]]
        copy = tmp_path / "prometheus.yml"
        copy.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        result = run_promtool("check", "config", str(copy))
    assert_ok(result)
    config = load_yaml(PROMETHEUS_CONFIG)
    assert [str(PROMETHEUS / name) for name in config["rule_files"]] == [str(ALERTS)]


# --- the Kubernetes job's relabelling, applied to the pods deploy/ creates -------------------------------

POD_META = {
    "__meta_kubernetes_namespace", "__meta_kubernetes_pod_name", "__meta_kubernetes_pod_ip",
    "__meta_kubernetes_pod_container_init", "__meta_kubernetes_pod_container_name",
    "__meta_kubernetes_pod_container_id", "__meta_kubernetes_pod_container_image",
    "__meta_kubernetes_pod_container_port_name", "__meta_kubernetes_pod_container_port_number",
    "__meta_kubernetes_pod_container_port_protocol", "__meta_kubernetes_pod_ready",
    "__meta_kubernetes_pod_phase", "__meta_kubernetes_pod_node_name", "__meta_kubernetes_pod_host_ip",
    "__meta_kubernetes_pod_uid", "__meta_kubernetes_pod_controller_kind", "__meta_kubernetes_pod_controller_name",
}  # fmt: skip
POD_META_PREFIXES = (
    "__meta_kubernetes_pod_label_",
    "__meta_kubernetes_pod_labelpresent_",
    "__meta_kubernetes_pod_annotation_",
    "__meta_kubernetes_pod_annotationpresent_",
)


def label_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def pod_targets(pod_name: str, namespace: str, template: dict[str, Any]) -> Iterator[dict[str, str]]:
    """The targets Prometheus' pod role discovers for a running pod of this template: one per port."""
    meta = template["metadata"]
    common = {
        "__meta_kubernetes_namespace": namespace,
        "__meta_kubernetes_pod_name": pod_name,
        "__meta_kubernetes_pod_ip": "10.0.0.7",
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_ready": "true",
    }
    for key, value in meta.get("labels", {}).items():
        common[f"__meta_kubernetes_pod_label_{label_name(key)}"] = value
        common[f"__meta_kubernetes_pod_labelpresent_{label_name(key)}"] = "true"
    for key, value in meta.get("annotations", {}).items():
        common[f"__meta_kubernetes_pod_annotation_{label_name(key)}"] = value
        common[f"__meta_kubernetes_pod_annotationpresent_{label_name(key)}"] = "true"
    for container in template["spec"]["containers"]:
        for port in container.get("ports", []):
            yield {
                **common,
                "__address__": f"10.0.0.7:{port['containerPort']}",
                "__meta_kubernetes_pod_container_name": container["name"],
                "__meta_kubernetes_pod_container_port_name": port.get("name", ""),
                "__meta_kubernetes_pod_container_port_number": str(port["containerPort"]),
                "__meta_kubernetes_pod_container_port_protocol": port.get("protocol", "TCP"),
            }


def relabel(labels: dict[str, str], configs: list[dict[str, Any]], job: str) -> dict[str, str] | None:
    """Prometheus' target relabelling (keep, drop, replace); None when the target is dropped."""
    labels = {"job": job, **labels}
    for config in configs:
        source = config.get("separator", ";").join(labels.get(name, "") for name in config.get("source_labels", []))
        match = re.fullmatch(str(config.get("regex", "(.*)")), source)
        action = config.get("action", "replace")
        if (action == "keep" and not match) or (action == "drop" and match):
            return None
        if action == "replace" and match:
            replacement = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", str(config.get("replacement", "$1")))
            value = match.expand(replacement)
            if value:
                labels[config["target_label"]] = value
            else:
                labels.pop(config["target_label"], None)
        elif action not in {"keep", "drop", "replace"}:
            raise NotImplementedError(action)
    labels.setdefault("instance", labels["__address__"])
    return {key: value for key, value in labels.items() if not key.startswith("__")}


def kubernetes_job() -> dict[str, Any]:
    jobs: list[dict[str, Any]] = [
        job for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"] if "kubernetes_sd_configs" in job
    ]
    assert len(jobs) == 1
    return jobs[0]


def scraped(job: dict[str, Any], pod_name: str, namespace: str, template: dict[str, Any]) -> list[dict[str, str]]:
    found = (relabel(t, job["relabel_configs"], job["job_name"]) for t in pod_targets(pod_name, namespace, template))
    return [labels for labels in found if labels is not None]


def test_kubernetes_job_uses_pod_meta_labels_only() -> None:
    job = kubernetes_job()
    assert [sd["role"] for sd in job["kubernetes_sd_configs"]] == ["pod"]
    for config in job["relabel_configs"]:
        for name in config.get("source_labels", []):
            if name.startswith("__meta_"):
                assert name in POD_META or name.startswith(POD_META_PREFIXES), name


def test_kubernetes_job_scrapes_gateway_and_workers_not_the_operator() -> None:
    job = kubernetes_job()
    gateway = load_yaml(BASE / "gateway-deployment.yaml")["spec"]["template"]
    assert scraped(job, "cozegate-gateway-5d9c-x1", "cozegate", gateway) == [
        {
            "job": "cozegate",
            "instance": "cozegate-gateway-5d9c-x1",
            "pod": "cozegate-gateway-5d9c-x1",
            "namespace": "cozegate",
            "component": "gateway",
        }
    ]
    operator = load_yaml(BASE / "operator-deployment.yaml")["spec"]["template"]
    assert scraped(job, "cozegate-operator-7f8d-a1", "cozegate", operator) == []
    bot = stored(cozebot_body(name="support"))
    worker = next(m for m in desired_children(bot, CONFIG) if m["kind"] == "Deployment")["spec"]["template"]
    assert scraped(job, "support-6b7c-q2", "bots", worker) == [
        {
            "job": "cozegate",
            "instance": "support-6b7c-q2",
            "pod": "support-6b7c-q2",
            "namespace": "bots",
            "component": "bot-worker",
            "cozebot": "support",
        }
    ]


# --- Grafana ----------------------------------------------------------------------------------------


def test_dashboards_are_well_formed() -> None:
    found = dashboards()
    assert "cozegate-overview.json" in found
    uids = [dashboard["uid"] for dashboard in found.values()]
    assert len(uids) == len(set(uids)), "dashboard uids must be unique"
    for name, dashboard in found.items():
        text = (GRAFANA / "dashboards" / name).read_text(encoding="utf-8")
        assert text == json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n", f"{name}: indent JSON by 2"
        assert dashboard["schemaVersion"] >= 39, name
        assert dashboard["title"], name
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["query"] == "prometheus", name
        assert "instance" in variables, name
        panels = list(all_panels(dashboard["panels"]))
        ids = [panel.get("id") for panel in panels]
        assert all(isinstance(i, int) for i in ids), f"{name}: every panel needs an id"
        assert len(ids) == len(set(ids)), f"{name}: panel ids must be unique"
        taken: dict[tuple[int, int], str] = {}
        for panel in panels:
            assert panel.get("title"), f"{name}: panel {panel.get('id')} has no title"
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, f"{name}: {panel['title']!r} is wider than the dashboard"
            for cell in itertools.product(
                range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
            ):
                assert cell not in taken, f"{name}: {panel['title']!r} overlaps {taken[cell]!r}"
                taken[cell] = panel["title"]
            if panel["type"] != "row":
                assert panel["targets"], f"{name}: {panel['title']!r} has no query"


def datasource_refs(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield f"{path}.{key}", value
            else:
                yield from datasource_refs(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from datasource_refs(value, f"{path}[{index}]")


def test_dashboards_use_the_datasource_variable_only() -> None:
    """No data source uid of one Grafana is baked in: panels, queries and variables use ${datasource}."""
    for name, dashboard in dashboards().items():
        refs = list(datasource_refs(dashboard))
        assert refs, name
        wrong = [(where, ref) for where, ref in refs if ref != DATASOURCE]
        assert wrong == [], name


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    rules: list[dict[str, str]] = []
    where: dict[str, str] = {}
    unknown: list[str] = []
    for name, dashboard in dashboards().items():
        variables = {v["name"] for v in dashboard["templating"]["list"]}
        for place, expr in dashboard_queries(dashboard):
            query = substitute(expr, variables)
            if "$" in query or "[[" in query:
                unknown.append(f"{name}: {place}: {expr}")
            record = f"dashboard:query_{len(rules):03d}"
            rules.append({"record": record, "expr": query})
            where[record] = f"{name}: {place}"
    assert unknown == [], "queries with undefined template variables"
    assert len(rules) > 40
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, width=1000), encoding="utf-8")
    result = run_promtool("check", "rules", str(path))
    index = "\n".join(f"{record}: {place}" for record, place in where.items())
    assert result.returncode == 0, f"promtool check rules:\n{result.stdout}\n{result.stderr}\nqueries:\n{index}"


def test_every_metric_used_is_exported() -> None:
    exported = exported_sample_names()
    assert "cozegate_webhook_received_total" in exported  # the suffixes are right
    used: dict[str, set[str]] = {}
    for rule in alert_rules():
        for metric in METRIC_NAME.findall(rule["expr"]):
            used.setdefault(metric, set()).add(f"alert {rule['alert']}")
    for case in load_yaml(ALERTS_TEST)["tests"]:
        for series in case.get("input_series", []):
            for metric in METRIC_NAME.findall(series["series"]):
                used.setdefault(metric, set()).add(f"alerts_test.yml {case['name']!r}")
    for name, dashboard in dashboards().items():
        for place, expr in dashboard_queries(dashboard):
            for metric in METRIC_NAME.findall(expr):
                used.setdefault(metric, set()).add(f"{name}: {place}")
    assert len(used) > 20
    missing = {metric: sorted(places) for metric, places in used.items() if metric not in exported}
    assert missing == {}, "metrics that cozegate does not export (renamed?)"
