"""Value types of the inbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    DEAD = "dead"
    DISCARDED = "discarded"


class SubmitOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A verified webhook event about to be stored."""

    tenant: str
    dedup_key: str
    event_type: str
    payload: str
    request_id: str
    received_at: float
    ordering_key: str | None = None
    trace_parent: str | None = None  # W3C traceparent of the span that stored it (tracing on)


@dataclass(slots=True)
class Event:
    """An event handed to a handler. ``attempt`` starts at 1."""

    id: int
    tenant: str
    dedup_key: str
    event_type: str
    payload_text: str
    request_id: str
    received_at: float
    attempt: int
    attempt_log: list[dict[str, Any]] = field(default_factory=list)
    trace_parent: str | None = None
    deadline: float | None = None  # the event loop's time at which this attempt's handler is cancelled
    # Work the handler leaves to the transaction that records this event done (not run if it fails)
    done_work: list[Callable[[Connection], object]] = field(default_factory=list)

    def on_done(self, work: Callable[[Connection], object]) -> None:
        """Run ``work`` in the transaction that records this event done (one commit for both), if this attempt
        still holds the event's lease; a ``work`` that fails is rolled back alone and logged."""
        self.done_work.append(work)

    @property
    def payload(self) -> dict[str, Any]:
        value = json.loads(self.payload_text)
        assert isinstance(value, dict)
        return value


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An inbox row as the admin API and CLI show it."""

    id: int
    tenant: str
    dedup_key: str
    event_type: str
    status: str
    attempts: int
    received_at: float
    available_at: float
    finished_at: float | None
    last_error: str | None
    attempt_log: list[dict[str, Any]]
    request_id: str
    payload: str

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "dedup_key": self.dedup_key,
            "event_type": self.event_type,
            "status": self.status,
            "attempts": self.attempts,
            "received_at": self.received_at,
            "finished_at": self.finished_at,
            "last_error": self.last_error,
        }

    def detail(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "request_id": self.request_id,
            "attempt_log": self.attempt_log,
            "payload": self.payload,
        }
