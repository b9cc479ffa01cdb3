"""Bounded worker pool: claims due events under a lease, runs their handlers, records the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import secrets
import socket
import time
import traceback
from collections.abc import Callable

from cozegate.inbox.handlers import EventHandlers, PermanentError
from cozegate.inbox.model import Event, Status
from cozegate.inbox.retry import RetryPolicy
from cozegate.inbox.service import Inbox
from cozegate.inbox.store import Completion
from cozegate.observability import metrics
from cozegate.observability.log_context import log_fields
from cozegate.observability.logging import request_id_var
from cozegate.observability.tracing import consumer_span, record_failure

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000
EMPTY_CLAIM_INTERVAL = 0.02  # seconds between two claims when the last one found nothing
SETTLE_SECONDS = 5.0  # at shutdown, how long commits still writing may take to hand over what they leased


def new_owner_id() -> str:
    return f"{socket.gethostname()[:40]}:{secrets.token_hex(4)}"


class WorkerPool:
    def __init__(
        self,
        inbox: Inbox,
        handlers: EventHandlers,
        *,
        concurrency: int,
        lease_seconds: float,
        handler_timeout: float,
        poll_interval: float,
        retry: RetryPolicy,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._inbox = inbox
        self._store = inbox.store
        self._handlers = handlers
        self._concurrency = concurrency
        self._lease = lease_seconds
        self._timeout = handler_timeout
        self._poll = poll_interval
        self._retry = retry
        self.owner = owner or new_owner_id()
        self._clock = clock
        self._active: dict[int, asyncio.Task[None]] = {}
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._slot_free = asyncio.Event()
        self._reserved = 0  # slots held for events being born leased to this pool (``reserve``)
        self._releasing: set[asyncio.Task[int]] = set()

    def wake(self) -> None:
        self._wakeup.set()

    @property
    def in_flight(self) -> int:
        return len(self._active)

    def reserve(self, slots: int) -> float | None:
        """Hold ``slots`` for events about to be born leased to this pool; returns when their lease ends, or
        None when there is no room (or the pool is stopping). ``adopt`` gives the slots back."""
        if self._stopping or self._free() < slots:
            return None
        self._reserved += slots
        return self._clock() + self._lease

    def adopt(self, events: list[Event], reserved: int) -> None:
        """Run events leased to this pool at their commit (``reserve`` held ``reserved`` slots for them); a
        stopping pool gives them back at once instead. Each runs in a context of its own (not the
        committing handler's log fields)."""
        self._reserved -= reserved
        if len(events) < reserved:  # slots given back unused: the dispatcher may claim with them
            self._slot_free.set()
            self._wakeup.set()
        if self._stopping:
            if events:
                release = self._store.release([e.id for e in events], self.owner, self._clock())
                releasing = asyncio.create_task(release, name="inbox-release-born")
                self._releasing.add(releasing)
                releasing.add_done_callback(self._released)
            return
        for event in events:
            run = asyncio.create_task(self._run(event), name=f"event:{event.id}", context=contextvars.Context())
            self._active[event.id] = run

    def _released(self, task: asyncio.Task[int]) -> None:
        self._releasing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("giving back events born during shutdown failed: %s", task.exception().__class__.__name__)

    def _free(self) -> int:
        return self._concurrency - len(self._active) - self._reserved

    def start(self) -> None:
        if self._concurrency > 0:
            self._inbox.lease_outbox_to(self)
            self._loop_task = asyncio.create_task(self._dispatch_forever(), name="inbox-workers")

    async def stop(self, grace_seconds: float) -> None:
        """Stop claiming; let in-flight handlers finish for ``grace_seconds``, then give their events back."""
        self._stopping = True
        self._wakeup.set()
        self._slot_free.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        deadline = time.monotonic() + grace_seconds
        while self._active and time.monotonic() < deadline:  # events adopted meanwhile are waited for too
            await asyncio.wait(list(self._active.values()), timeout=deadline - time.monotonic())
        # Commits still writing when the grace ended hand their born-leased events over when they finish
        # (``adopt`` gives them back now): wait for those, boundedly.
        settle = time.monotonic() + SETTLE_SECONDS
        while (self._reserved or self._releasing) and time.monotonic() < settle:
            if self._releasing:
                await asyncio.wait(list(self._releasing), timeout=max(0.0, settle - time.monotonic()))
            else:
                await asyncio.sleep(0.01)
        unfinished = list(self._active)
        for task in self._active.values():
            task.cancel()
        if unfinished:
            released = await self._store.release(unfinished, self.owner, self._clock())
            log.info("released %d unfinished events on shutdown", released)

    async def _dispatch_forever(self) -> None:
        while not self._stopping:
            free = self._free()
            # Claim in batches: while work is in flight, wait until a quarter of the slots are free.
            if free <= 0 or (self._active and free < max(1, self._concurrency // 4)):
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            self._wakeup.clear()
            started = time.monotonic()
            try:
                events = await self._store.claim(self.owner, min(free, 64), self._clock(), self._lease)
            except Exception as exc:
                log.warning("claiming inbox events failed: %s", exc.__class__.__name__)
                events = []
            for event in events:
                self._active[event.id] = asyncio.create_task(self._run(event), name=f"event:{event.id}")
            if len(events) < min(free, 64):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll)
            if not events:
                # Everything due was blocked behind its conversation's head: wake-ups (one per commit)
                # may not trigger a claim more often than this, or a backlog makes claims the load.
                await asyncio.sleep(max(0.0, started + EMPTY_CLAIM_INTERVAL - time.monotonic()))

    async def _run(self, event: Event) -> None:
        token = request_id_var.set(event.request_id)
        attributes: dict[str, str | int] = {
            "cozegate.tenant": event.tenant,
            "cozegate.event_type": event.event_type,
            "cozegate.event_id": event.id,
            "cozegate.attempt": event.attempt,
        }
        kind = self._handlers.metric_label(event.event_type)  # bounded: senders choose event types
        try:
            with (
                log_fields(tenant=event.tenant, event_type=kind, event_id=event.id),
                consumer_span(f"inbox process {kind}", event.trace_parent, attributes),
            ):
                await self._attempt(event)
        except Exception as exc:  # its outcome was not recorded: the event runs again once its lease ends
            log.warning("recording the outcome of event %d failed: %s", event.id, exc.__class__.__name__)
        finally:
            request_id_var.reset(token)
            self._active.pop(event.id, None)
            self._slot_free.set()
            self._wakeup.set()  # the next event of this conversation may be due now

    async def _attempt(self, event: Event) -> None:
        label = self._handlers.metric_label(event.event_type)
        if event.attempt > self._retry.max_attempts:
            # The lease expired repeatedly: the process died (or hung) while handling it.
            await self._finish_failed(event, label, "lease expired before the handler finished", dead=True)
            return
        handler = self._handlers.resolve(event.event_type)
        started = time.perf_counter()
        if handler is None:
            log.debug("no handler for event type %s", event.event_type)
            await self._inbox.completions.submit(Completion(event.id, self.owner, Status.DONE, self._clock()))
            return
        try:
            event.deadline = asyncio.get_running_loop().time() + self._timeout
            async with asyncio.timeout_at(event.deadline):
                await handler(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            metrics.INBOX_PROCESSING_SECONDS.labels(label, "error").observe(time.perf_counter() - started)
            record_failure(exc)
            error = _describe(exc)
            dead = isinstance(exc, PermanentError) or self._retry.exhausted(event.attempt)
            if dead:  # an error for the operator (and Sentry, with the traceback): it waits in the dead letters
                log.error(
                    "handler for %s failed for good (attempt %d), dead-lettered: %s",
                    event.event_type,
                    event.attempt,
                    error,
                    exc_info=exc,
                )
            else:
                log.warning("handler for %s failed (attempt %d): %s", event.event_type, event.attempt, error)
            await self._finish_failed(event, label, error, dead=dead)
            return
        metrics.INBOX_PROCESSING_SECONDS.labels(label, "ok").observe(time.perf_counter() - started)
        done = Completion(event.id, self.owner, Status.DONE, self._clock(), work=tuple(event.done_work))
        await self._inbox.completions.submit(done)

    async def _finish_failed(self, event: Event, label: str, error: str, *, dead: bool) -> None:
        now = self._clock()
        history = [*event.attempt_log, {"attempt": event.attempt, "at": now, "error": error}]
        if dead:
            metrics.INBOX_DEAD_LETTERS.labels(label).inc()
            completion = Completion(
                event.id, self.owner, Status.DEAD, now, error=error, attempt_log=json.dumps(history)
            )
        else:
            metrics.INBOX_RETRIES.labels(label).inc()
            completion = Completion(
                event.id,
                self.owner,
                Status.PENDING,
                now,
                retry_at=now + self._retry.delay(event.attempt),
                error=error,
                attempt_log=json.dumps(history),
            )
        await self._inbox.completions.submit(completion)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "handler timed out"
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text[:MAX_ERROR_CHARS]
