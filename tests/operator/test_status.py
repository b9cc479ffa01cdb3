"""Conditions and status as pure bookkeeping: exact timestamps, and an unchanged world gives an equal status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cozegate.operator.conditions import READY, RECONCILED, find, set_condition, timestamp
from cozegate.operator.status import Observation, desired_status, readiness

T0 = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def deployment(*, replicas: int = 2, ready: int = 0, updated: int | None = None, seen: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"generation": 1},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": seen,
            "replicas": replicas,
            "updatedReplicas": replicas if updated is None else updated,
            "readyReplicas": ready,
        },
    }


def test_the_transition_time_moves_only_when_the_status_does() -> None:
    first = set_condition([], READY, "False", "ReplicasNotReady", "0/2 replicas ready", generation=1, now=T0)
    same_status = set_condition(first, READY, "False", "ReplicasNotReady", "1/2 replicas ready", generation=1, now=T1)
    flipped = set_condition(same_status, READY, "True", "ReplicasReady", "2/2 replicas ready", generation=2, now=T1)

    assert find(same_status, READY) == {**first[0], "message": "1/2 replicas ready"}
    assert find(flipped, READY) == {
        "type": READY,
        "status": "True",
        "reason": "ReplicasReady",
        "message": "2/2 replicas ready",
        "lastTransitionTime": "2025-03-01T08:05:00Z",
        "observedGeneration": 2,
    }


def test_conditions_keep_a_stable_order_and_others_untouched() -> None:
    found = set_condition([], READY, "True", "A", "", generation=1, now=T0)
    found = set_condition(found, "Custom", "True", "B", "", generation=1, now=T0)
    found = set_condition(found, RECONCILED, "True", "C", "", generation=1, now=T0)
    assert [c["type"] for c in found] == ["Ready", "Reconciled", "Custom"]


@pytest.mark.parametrize(
    ("state", "status", "reason"),
    [
        (None, "False", "DeploymentMissing"),
        (deployment(replicas=0), "False", "ScaledToZero"),
        (deployment(ready=2, seen=0), "False", "RolloutPending"),
        (deployment(ready=2, updated=1), "False", "RollingOut"),
        (deployment(ready=1), "False", "ReplicasNotReady"),
        (deployment(ready=2), "True", "ReplicasReady"),
    ],
)
def test_readiness_follows_the_deployment(state: dict[str, Any] | None, status: str, reason: str) -> None:
    verdict = readiness(state)
    assert (verdict.status, verdict.reason) == (status, reason)


def test_an_unchanged_world_gives_an_equal_status_whatever_the_time() -> None:
    observation = Observation(generation=3, paused=False, outcome="applied", deployment=deployment(ready=2))
    first = desired_status({}, observation, T0)
    assert first["phase"] == "Ready"
    assert first["observedGeneration"] == 3
    assert desired_status(first, observation, T1) == first


def test_pausing_after_an_applied_generation_keeps_reconciled_true() -> None:
    applied = desired_status({}, Observation(generation=3, paused=False, outcome="applied"), T0)
    paused_same = desired_status(applied, Observation(generation=3, paused=True, outcome="paused"), T1)
    paused_newer = desired_status(applied, Observation(generation=4, paused=True, outcome="paused"), T1)

    assert find(paused_same["conditions"], RECONCILED) == find(applied["conditions"], RECONCILED)
    pending = find(paused_newer["conditions"], RECONCILED)
    assert pending is not None
    assert (pending["status"], pending["reason"], pending["lastTransitionTime"]) == ("False", "Paused", timestamp(T1))
    assert paused_newer["phase"] == "Paused"
    assert paused_newer["observedGeneration"] == 4


def test_a_failure_shows_in_phase_and_condition() -> None:
    status = desired_status({}, Observation(generation=1, paused=False, outcome="failed", message="boom"), T0)
    reconciled = find(status["conditions"], RECONCILED)
    assert reconciled is not None
    assert (reconciled["reason"], reconciled["message"]) == ("ApplyFailed", "boom")
    assert status["phase"] == "Failed"
