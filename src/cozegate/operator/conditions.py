"""Status conditions the Kubernetes way (``metav1.Condition``), as pure bookkeeping.

``lastTransitionTime`` says when a condition last changed between True and False, so a new reason or
message alone keeps it: dashboards and ``kubectl wait`` rely on it not moving on every reconcile.
The clock is an argument, which keeps these functions pure and their tests exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

READY = "Ready"
RECONCILED = "Reconciled"
PAUSED = "Paused"
CONDITION_TYPES = (READY, RECONCILED, PAUSED)

Status = Literal["True", "False", "Unknown"]
Condition = dict[str, Any]


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as the API server writes ``metav1.Time``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find(conditions: Sequence[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == kind), None)


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    kind: str,
    status: Status,
    reason: str,
    message: str,
    *,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """A new list with ``kind`` set; its transition time moves only if its status changed (or it is new)."""
    previous = find(conditions, kind)
    if previous is not None and previous.get("status") == status and previous.get("lastTransitionTime"):
        since = str(previous["lastTransitionTime"])
    else:
        since = timestamp(now)
    changed: Condition = {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
        "observedGeneration": generation,
    }
    updated = [dict(c) if c.get("type") != kind else changed for c in conditions]
    if previous is None:
        updated.append(changed)
    return sorted(updated, key=_order)


def _order(condition: Mapping[str, Any]) -> tuple[int, str]:
    kind = str(condition.get("type", ""))
    return (CONDITION_TYPES.index(kind) if kind in CONDITION_TYPES else len(CONDITION_TYPES), kind)
