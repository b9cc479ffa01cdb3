"""The CozeBot's status from what a reconcile did and what the Deployment reports (pure).

Ready follows the Deployment: every desired replica updated to the current template and ready.
Reconciled says whether the children match the spec's generation, so ``observedGeneration`` on the
condition answers "is my last change applied?". The status is a function of its inputs, so an
unchanged world gives an equal status and the reconciler writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cozegate.operator import conditions
from cozegate.operator.conditions import PAUSED, READY, RECONCILED

Outcome = Literal["applied", "paused", "invalid", "failed"]


@dataclass(frozen=True)
class Observation:
    """One reconcile of one generation: what happened to the children, and the Deployment seen after it."""

    generation: int
    paused: bool
    outcome: Outcome
    message: str = ""
    deployment: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Verdict:
    """One condition's status, reason and message."""

    status: conditions.Status
    reason: str
    message: str


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def desired_replicas(deployment: Mapping[str, Any]) -> int:
    """What the Deployment asks for now (the autoscaler's choice when there is one); Kubernetes' default is 1."""
    return _int((deployment.get("spec") or {}).get("replicas"), 1)


def readiness(deployment: Mapping[str, Any] | None) -> Verdict:
    if deployment is None:
        return Verdict("False", "DeploymentMissing", "the Deployment does not exist yet")
    desired = desired_replicas(deployment)
    if desired == 0:
        return Verdict("False", "ScaledToZero", "replicas is 0: the bot is stopped")
    state = deployment.get("status") or {}
    generation = _int((deployment.get("metadata") or {}).get("generation"))
    if _int(state.get("observedGeneration")) < generation:
        return Verdict("False", "RolloutPending", f"the Deployment controller has not seen generation {generation}")
    updated, ready = _int(state.get("updatedReplicas")), _int(state.get("readyReplicas"))
    if updated < desired:
        return Verdict("False", "RollingOut", f"{updated}/{desired} replicas run the current template")
    if ready < desired:
        return Verdict("False", "ReplicasNotReady", f"{ready}/{desired} replicas ready")
    return Verdict("True", "ReplicasReady", f"{ready}/{desired} replicas ready")


def _phase(observation: Observation, ready: Verdict) -> str:
    if observation.outcome in ("invalid", "failed"):
        return "Failed"
    if observation.paused:
        return "Paused"
    if ready.status == "True":
        return "Ready"
    return {"ScaledToZero": "Stopped", "DeploymentMissing": "Pending"}.get(ready.reason, "Progressing")


def _reconciled(
    previous: list[conditions.Condition], observation: Observation, now: datetime
) -> list[conditions.Condition]:
    generation = observation.generation
    if observation.outcome == "applied":
        verdict = Verdict("True", "Applied", f"the children match generation {generation}")
    elif observation.outcome == "failed":
        verdict = Verdict("False", "ApplyFailed", observation.message)
    elif observation.outcome == "invalid":
        verdict = Verdict("False", "InvalidSpec", observation.message)
    else:
        applied = conditions.find(previous, RECONCILED)
        if applied is not None and applied.get("status") == "True" and applied.get("observedGeneration") == generation:
            return previous  # paused after this generation was applied: nothing is pending
        verdict = Verdict("False", "Paused", f"generation {generation} is not applied: spec.paused is true")
    return _set(previous, RECONCILED, verdict, generation, now)


def _set(
    found: list[conditions.Condition], kind: str, verdict: Verdict, generation: int, now: datetime
) -> list[conditions.Condition]:
    return conditions.set_condition(
        found, kind, verdict.status, verdict.reason, verdict.message, generation=generation, now=now
    )


def desired_status(previous: Mapping[str, Any], observation: Observation, now: datetime) -> dict[str, Any]:
    """The whole ``status`` to store: equal to ``previous`` when nothing changed, whatever ``now`` is."""
    generation = observation.generation
    ready = readiness(observation.deployment)
    found = [dict(c) for c in previous.get("conditions") or [] if isinstance(c, Mapping)]
    found = _reconciled(found, observation, now)
    if observation.paused:
        paused = Verdict("True", "PausedBySpec", "spec.paused is true: the operator writes nothing to the children")
    else:
        paused = Verdict("False", "Active", "the operator keeps the children in line with the spec")
    found = _set(found, PAUSED, paused, generation, now)
    found = _set(found, READY, ready, generation, now)
    deployment_state = (observation.deployment or {}).get("status") or {}
    return {
        "observedGeneration": generation,
        "phase": _phase(observation, ready),
        "replicas": _int(deployment_state.get("replicas")),
        "readyReplicas": _int(deployment_state.get("readyReplicas")),
        "conditions": found,
    }
