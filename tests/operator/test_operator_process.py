"""The whole operator as a process: the ``cozegate operator`` command (kopf, login through a kubeconfig,
the handlers, the real KubeApi) against the fake API server over HTTP, watched as a user would.

It shows what unit tests cannot: kopf finds the CozeBot resource, resumes bots that existed before it
started, reacts to new ones and to spec changes, carries Deployment status into the CozeBot through
child events, puts back a child deleted by hand, honours pause, adds no finalizer (deletion is left to
the garbage collector), posts Events, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import free_port
from tests.operator.conftest import NAMESPACE, cozebot_body
from tests.operator.fake_kube_api import FakeKubeServer
from tests.support.server import REPO
from tests.support.waiting import wait_for

COMMAND = "import typer; from cozegate.cli.operator import operator; typer.run(operator)"
IMAGE = "registry.example/cozegate:7.7.7"


class OperatorProcess:
    def __init__(self, kube: FakeKubeServer, tmp: Path) -> None:
        kubeconfig = tmp / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(kube.kubeconfig()))
        self.health = f"http://127.0.0.1:{free_port()}/healthz"
        self.log_path = tmp / "operator.log"
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "COZEGATE_OPERATOR_IMAGE": IMAGE,
            "COZEGATE_OPERATOR_SECRET": "bot-backends",
            "COZEGATE_LOG_FORMAT": "text",
            "PYTHONPATH": str(REPO),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", COMMAND, "--liveness", self.health],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def alive() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the operator exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                return httpx.get(self.health, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(alive, timeout=60)
        return self

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


@pytest.fixture
def running(kube: FakeKubeServer, tmp_path: Path) -> Iterator[tuple[FakeKubeServer, OperatorProcess]]:
    kube.api.install(cozebot_body(name="early", replicas=1))  # exists before the operator starts: resumed
    process = OperatorProcess(kube, tmp_path)
    try:
        yield kube, process.start()
    finally:
        if process.proc is not None and process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(timeout=10)


def get(kube: FakeKubeServer, kind: str, name: str) -> dict[str, Any] | None:
    api_version = {
        "CozeBot": "cozegate.io/v1alpha1",
        "Deployment": "apps/v1",
        "PodDisruptionBudget": "policy/v1",
        "HorizontalPodAutoscaler": "autoscaling/v2",
    }.get(kind, "v1")
    return kube.api.get(api_version, kind, NAMESPACE, name)


def condition(bot: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    if bot is None:
        return {}
    return next((c for c in (bot.get("status") or {}).get("conditions", []) if c["type"] == kind), {})


def test_the_operator_process_runs_cozebots_end_to_end(running: tuple[FakeKubeServer, OperatorProcess]) -> None:
    kube, operator = running

    # resumed at start-up, and created while running
    early = wait_for(lambda: get(kube, "Deployment", "early"), timeout=30)
    assert early["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    kube.api.install(cozebot_body(name="late", replicas=2, autoscaling={"maxReplicas": 5}))
    wait_for(lambda: get(kube, "HorizontalPodAutoscaler", "late"), timeout=30)
    env = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in early["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert set(env.values()) == {"bot-backends"}

    # no finalizer: deleting a CozeBot never waits for the operator; kopf keeps its notes in annotations
    for name in ("early", "late"):
        # kopf writes its note after the handler returned, so it can come a moment after the children
        bot = wait_for(
            lambda n=name: (
                (b := get(kube, "CozeBot", n))
                and "cozegate.io/last-handled-configuration" in b["metadata"].get("annotations", {})
                and b
            ),
            timeout=30,
        )
        assert not bot["metadata"].get("finalizers"), bot["metadata"]
        assert set(bot.get("status", {})) <= {"observedGeneration", "phase", "replicas", "readyReplicas", "conditions"}

    # the Deployment controller reports ready pods: the child event carries it into the CozeBot's status
    kube.api.update_status(
        "apps/v1",
        "Deployment",
        NAMESPACE,
        "early",
        {
            "observedGeneration": early["metadata"]["generation"],
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
        },
    )
    wait_for(lambda: condition(get(kube, "CozeBot", "early"), "Ready").get("status") == "True", timeout=30)
    early_bot = get(kube, "CozeBot", "early")
    assert early_bot is not None
    assert (early_bot["status"]["phase"], early_bot["status"]["readyReplicas"]) == ("Ready", 1)

    # a spec change reaches the Deployment, observedGeneration follows
    kube.api.merge("cozegate.io/v1alpha1", "CozeBot", NAMESPACE, "early", {"spec": {"replicas": 3}})
    wait_for(lambda: (get(kube, "Deployment", "early") or {}).get("spec", {}).get("replicas") == 3, timeout=30)
    wait_for(lambda: (get(kube, "CozeBot", "early") or {}).get("status", {}).get("observedGeneration") == 2, timeout=30)

    # a child deleted by hand comes back (its DELETED event reconciles the owner)
    kube.api.remove("v1", "Service", NAMESPACE, "early")
    wait_for(lambda: get(kube, "Service", "early"), timeout=30)

    # pause: the status says so and the children stay as they were
    late_version = (get(kube, "Deployment", "late") or {})["metadata"]["resourceVersion"]
    kube.api.merge("cozegate.io/v1alpha1", "CozeBot", NAMESPACE, "late", {"spec": {"paused": True, "version": "v9"}})
    wait_for(lambda: condition(get(kube, "CozeBot", "late"), "Paused").get("status") == "True", timeout=30)
    assert (get(kube, "Deployment", "late") or {})["metadata"]["resourceVersion"] == late_version

    # deleting a CozeBot: the garbage collector removes its children and the operator does not bring them back
    kube.api.remove("cozegate.io/v1alpha1", "CozeBot", NAMESPACE, "early")
    early_children = [("Deployment", "early"), ("Service", "early"), ("ConfigMap", "early-config")]
    wait_for(lambda: all(get(kube, kind, name) is None for kind, name in early_children), timeout=30)
    time.sleep(1.0)
    assert all(get(kube, kind, name) is None for kind, name in early_children)
    assert get(kube, "Deployment", "late") is not None

    # Events on the CozeBots say what was done
    events = kube.api.list_objects("v1", "Event", NAMESPACE)
    reconciled = {e["involvedObject"]["name"] for e in events if e["reason"] == "Reconciled"}
    assert reconciled == {"early", "late"}
    assert all(e["involvedObject"]["kind"] == "CozeBot" for e in events)

    assert operator.stop() == 0
    logs = operator.logs()
    assert "Traceback" not in logs, logs
    assert "Handler 'owner-deployments' succeeded." not in logs  # routine child events stay out of the logs
