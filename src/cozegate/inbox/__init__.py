"""Durable event queue: dedup, group commit, leases, bounded workers, retries, dead letters."""

from cozegate.inbox.handlers import INTERNAL_EVENT_PREFIX, EventHandlers, PermanentError
from cozegate.inbox.model import Event, NewEvent, Status, StoredEvent, SubmitOutcome
from cozegate.inbox.retry import RetryPolicy
from cozegate.inbox.service import Inbox, InboxFullError, InboxOverloadedError, StorageUnavailableError
from cozegate.inbox.store import InboxStore
from cozegate.inbox.workers import WorkerPool

__all__ = [
    "INTERNAL_EVENT_PREFIX",
    "Event",
    "EventHandlers",
    "Inbox",
    "InboxFullError",
    "InboxOverloadedError",
    "InboxStore",
    "NewEvent",
    "PermanentError",
    "RetryPolicy",
    "Status",
    "StorageUnavailableError",
    "StoredEvent",
    "SubmitOutcome",
    "WorkerPool",
]
