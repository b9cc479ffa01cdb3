"""The inbox as ingress sees it: submit a verified event, get ``accepted`` or ``duplicate`` once it is durable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection

from cozegate.inbox.batching import Batcher
from cozegate.inbox.fast_dedup import FastDedup
from cozegate.inbox.model import Event, NewEvent, Status, SubmitOutcome
from cozegate.inbox.store import Completion, InboxStore
from cozegate.observability import metrics

log = logging.getLogger(__name__)
T = TypeVar("T")


class InboxFullError(Exception):
    """Too many events wait for processing; the sender should come back later."""

    retry_after = 30


class InboxOverloadedError(Exception):
    """Too many acknowledgements wait for their commit; the sender should come back shortly."""

    retry_after = 1


class StorageUnavailableError(Exception):
    """The database did not take the event; nothing was stored."""

    retry_after = 5


class LocalWorkers(Protocol):
    """This process's workers, as the inbox sees them: it leases them new outbox events at birth."""

    @property
    def owner(self) -> str: ...

    def reserve(self, slots: int) -> float | None:
        """Hold room for ``slots`` events; returns when their lease ends, or None (no room)."""

    def adopt(self, events: list[Event], reserved: int) -> None:
        """Run events leased to ``owner`` at their commit, giving back the ``reserved`` slots."""


class Inbox:
    def __init__(
        self,
        store: InboxStore,
        fast_dedup: FastDedup,
        *,
        max_depth: int,
        max_backlog: int,
        batch_size: int,
        depth_refresh_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self._fast_dedup = fast_dedup
        self._max_depth = max_depth
        self._max_backlog = max_backlog
        self._depth_refresh = depth_refresh_seconds
        self._inserts: Batcher[NewEvent, SubmitOutcome] = Batcher(
            self._commit_new,
            max_batch=batch_size,
            name="inbox-insert",
            on_flushed=metrics.INBOX_GROUP_COMMIT_SIZE.observe,
        )
        self.completions: Batcher[Completion, bool] = Batcher(
            store.finish_batch, max_batch=batch_size, name="inbox-finish"
        )
        self._pending_depth = 0
        self._depth_task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[], None]] = []
        self._local: LocalWorkers | None = None

    def lease_outbox_to(self, workers: LocalWorkers) -> None:
        """Lease the outbox events a commit adds (``commit``) to ``workers`` in that same commit, when they have
        room: they start at once, without a claim."""
        self._local = workers

    def on_committed(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after new events are committed (wakes local workers)."""
        self._listeners.append(listener)

    async def start(self) -> None:
        await self.refresh_depth()
        self._inserts.start()
        self.completions.start()
        self._depth_task = asyncio.create_task(self._refresh_depth_forever(), name="inbox-depth")

    async def stop(self) -> None:
        await self._inserts.close()
        await self.completions.close()
        if self._depth_task is not None:
            self._depth_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._depth_task

    async def submit(self, event: NewEvent) -> SubmitOutcome:
        """Store ``event`` durably. Returns only after the commit (or raises, having stored nothing)."""
        if self._pending_depth >= self._max_depth:
            raise InboxFullError
        if self._inserts.backlog >= self._max_backlog:
            raise InboxOverloadedError
        try:
            return await self._inserts.submit(event)
        except Exception as exc:
            raise StorageUnavailableError from exc

    async def _commit_new(self, events: Sequence[NewEvent]) -> list[SubmitOutcome]:
        """One group commit. Keys the fast path already knows are duplicates without a database write."""
        keys = [(e.tenant, e.dedup_key) for e in events]
        try:
            known = await self._fast_dedup.seen_many(keys)
        except Exception as exc:  # the fast path is optional; the database still decides
            log.warning("fast-path dedup unavailable: %s", exc.__class__.__name__)
            known = [False] * len(events)
        fresh = [e for e, k in zip(events, known, strict=True) if not k]
        stored = iter(await self.store.insert_batch(fresh) if fresh else [])
        outcomes = [SubmitOutcome.DUPLICATE if k else next(stored) for k in known]
        self._pending_depth += outcomes.count(SubmitOutcome.ACCEPTED)
        for listener in self._listeners:
            listener()
        try:
            await self._fast_dedup.remember((e.tenant, e.dedup_key) for e in events)
        except Exception as exc:
            log.warning("fast-path dedup could not record keys: %s", exc.__class__.__name__)
        return outcomes

    async def commit(self, work: Callable[[Connection], T], outbox: Sequence[NewEvent] = ()) -> T:
        """Run the caller's ``work`` and add ``outbox`` events in one transaction (both or neither); once it
        has committed, the new events are counted and the workers woken. An event whose tenant and key
        are stored already (or come earlier in ``outbox``) is not stored again."""

        first: dict[tuple[str, str], NewEvent] = {}
        for event in outbox:
            first.setdefault((event.tenant, event.dedup_key), event)
        events = list(first.values())

        local = self._local if events else None
        until = local.reserve(len(events)) if local is not None else None
        if until is None:
            local = None

        def unit(conn: Connection) -> tuple[T, int, list[Event]]:
            result = work(conn)
            if not events:
                return result, 0, []
            if local is None or until is None:
                return result, len(self.store.insert_in(conn, events)), []
            keys, leased = self.store.insert_leased_in(conn, events, local.owner, until)
            return result, len(keys), leased

        # The write commits even if this caller is cancelled meanwhile (its deadline, shutdown): the events it
        # leased are adopted (or given back) all the same, never left to wait for their lease to end.
        writing = asyncio.ensure_future(self.store.db.write(unit))
        reserved = len(events) if local is not None else 0
        writing.add_done_callback(lambda done: self._born(done, local, reserved))
        result, _, _ = await asyncio.shield(writing)
        return result

    def _after_commit(self, accepted: int, leased: int) -> None:
        if accepted:
            self._pending_depth += accepted
            if leased < accepted:
                for listener in self._listeners:
                    listener()

    def _born(
        self, done: asyncio.Future[tuple[Any, int, list[Event]]], local: LocalWorkers | None, reserved: int
    ) -> None:
        """After the commit (also when its caller was cancelled): count it, hand over what it leased."""
        leased: list[Event] = []
        accepted = 0
        if not done.cancelled() and done.exception() is None:
            _, accepted, leased = done.result()
        if local is not None:
            local.adopt(leased, reserved)
        self._after_commit(accepted, len(leased))

    async def refresh_depth(self) -> dict[str, int]:
        depth = await self.store.depth()
        for status, count in depth.items():
            metrics.INBOX_DEPTH.labels(status).set(count)
        self._pending_depth = depth[Status.PENDING.value] + depth[Status.PROCESSING.value]
        return depth

    async def _refresh_depth_forever(self) -> None:
        while True:
            await asyncio.sleep(self._depth_refresh)
            try:
                await self.refresh_depth()
            except Exception as exc:
                log.warning("inbox depth query failed: %s", exc.__class__.__name__)
