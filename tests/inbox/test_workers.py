"""Worker pool, retries, dead letters, timeouts and shutdown, in-process on both backends."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from cozegate.inbox import (
    Event,
    EventHandlers,
    Inbox,
    InboxOverloadedError,
    InboxStore,
    NewEvent,
    RetryPolicy,
    StorageUnavailableError,
    SubmitOutcome,
    WorkerPool,
)
from cozegate.inbox.fast_dedup import MemoryFastDedup

Factory = Callable[..., Awaitable[tuple[Inbox, WorkerPool]]]


def new(key: str, event_type: str = "work") -> NewEvent:
    return NewEvent("t", key, event_type, json.dumps({"event_type": event_type}), "rid", time.time())


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def running(store: InboxStore) -> AsyncIterator[Factory]:
    started: list[tuple[Inbox, WorkerPool]] = []

    async def make(handlers: EventHandlers, **options: float) -> tuple[Inbox, WorkerPool]:
        inbox = Inbox(store, MemoryFastDedup(), max_depth=1000, max_backlog=1000, batch_size=64)
        workers = WorkerPool(
            inbox,
            handlers,
            concurrency=int(options.get("concurrency", 4)),
            lease_seconds=options.get("lease", 30.0),
            handler_timeout=options.get("timeout", 5.0),
            poll_interval=0.02,
            retry=RetryPolicy(int(options.get("max_attempts", 3)), 0.01, 0.05),
        )
        inbox.on_committed(workers.wake)
        await inbox.start()
        workers.start()
        started.append((inbox, workers))
        return inbox, workers

    yield make
    for inbox, workers in started:
        await workers.stop(1.0)
        await inbox.stop()


async def status_of(store: InboxStore, key: str) -> str | None:
    event = await store.get_by_key("t", key)
    return event.status if event else None


async def test_events_are_handled_once_and_marked_done(store: InboxStore, running: Factory) -> None:
    calls: Counter[str] = Counter()
    handlers = EventHandlers()

    @handlers.on("work")
    async def work(event: Event) -> None:
        calls[event.dedup_key] += 1

    inbox, _ = await running(handlers)
    outcomes = await asyncio.gather(*(inbox.submit(new(f"k{i}")) for i in range(50)), inbox.submit(new("k1")))
    assert outcomes.count(SubmitOutcome.DUPLICATE) == 1

    async def all_done() -> bool:
        return all([await status_of(store, f"k{i}") == "done" for i in range(50)])

    await wait_until(all_done)
    assert calls == Counter({f"k{i}": 1 for i in range(50)})


async def test_failures_are_retried_then_dead_lettered_with_history(store: InboxStore, running: Factory) -> None:
    attempts: Counter[str] = Counter()
    handlers = EventHandlers()

    @handlers.on("flaky")
    async def flaky(event: Event) -> None:
        attempts[event.dedup_key] += 1
        if event.attempt < 3:
            raise ConnectionError(f"try {event.attempt}")

    @handlers.on("broken")
    async def broken(event: Event) -> None:
        attempts[event.dedup_key] += 1
        raise ValueError("never works")

    inbox, _ = await running(handlers, max_attempts=3)
    await inbox.submit(new("f", "flaky"))
    await inbox.submit(new("b", "broken"))

    async def settled() -> bool:
        return await status_of(store, "f") == "done" and await status_of(store, "b") == "dead"

    await wait_until(settled)
    assert attempts == Counter({"f": 3, "b": 3})
    dead = await store.get_by_key("t", "b")
    assert dead is not None
    assert dead.last_error == "ValueError: never works"
    assert [a["attempt"] for a in dead.attempt_log] == [1, 2, 3]
    assert all(a["error"] == "ValueError: never works" for a in dead.attempt_log)
    flaky_row = await store.get_by_key("t", "f")
    assert flaky_row is not None
    assert [a["error"] for a in flaky_row.attempt_log] == ["ConnectionError: try 1", "ConnectionError: try 2"]


async def test_a_hanging_handler_times_out_and_is_retried(store: InboxStore, running: Factory) -> None:
    handlers = EventHandlers()
    cancelled = asyncio.Event()

    @handlers.on("hang")
    async def hang(event: Event) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    inbox, _ = await running(handlers, timeout=0.1, max_attempts=2)
    await inbox.submit(new("h", "hang"))

    async def dead() -> bool:
        return await status_of(store, "h") == "dead"

    await wait_until(dead)
    assert cancelled.is_set(), "the timed-out handler must really stop"
    row = await store.get_by_key("t", "h")
    assert row is not None
    assert row.last_error == "handler timed out"


async def test_unhandled_event_types_complete(store: InboxStore, running: Factory) -> None:
    inbox, _ = await running(EventHandlers())
    await inbox.submit(new("x", "nobody_handles_this"))

    async def done() -> bool:
        return await status_of(store, "x") == "done"

    await wait_until(done)


async def test_shutdown_releases_unfinished_work_without_counting_it(store: InboxStore) -> None:
    handlers = EventHandlers()
    entered = asyncio.Event()

    @handlers.on("slow")
    async def slow(event: Event) -> None:
        entered.set()
        await asyncio.sleep(3600)

    inbox = Inbox(store, MemoryFastDedup(), max_depth=100, max_backlog=100, batch_size=16)
    workers = WorkerPool(
        inbox,
        handlers,
        concurrency=2,
        lease_seconds=600,
        handler_timeout=3600,
        poll_interval=0.02,
        retry=RetryPolicy(3, 0.01, 0.05),
    )
    inbox.on_committed(workers.wake)
    await inbox.start()
    workers.start()
    await inbox.submit(new("s", "slow"))
    await asyncio.wait_for(entered.wait(), 20)
    await workers.stop(grace_seconds=0.05)
    await inbox.stop()
    row = await store.get_by_key("t", "s")
    assert row is not None
    assert (row.status, row.attempts) == ("pending", 0), "released, not lost, and the attempt does not count"


async def test_crash_looping_event_is_dead_lettered(store: InboxStore, running: Factory) -> None:
    """An event whose lease keeps expiring (the process dies in its handler) ends as a dead letter."""
    await store.insert_batch([new("poison", "work")])
    for i in range(3):  # three "processes" claimed it and died
        assert await store.claim(f"dead-{i}", 1, now=time.time() + 100 * (i + 1), lease_seconds=1)
    # make it due now for the live pool
    await store.release_all_leases(time.time())
    handlers = EventHandlers()
    ran = []

    @handlers.on("work")
    async def work(event: Event) -> None:
        ran.append(event)

    await running(handlers, max_attempts=3)

    async def dead() -> bool:
        return await status_of(store, "poison") == "dead"

    await wait_until(dead)
    assert ran == []


async def test_backlog_limit_answers_overloaded(store: InboxStore) -> None:
    inbox = Inbox(store, MemoryFastDedup(), max_depth=100, max_backlog=1, batch_size=16)
    first = asyncio.create_task(inbox.submit(new("a")))  # inbox not started: the commit waits
    for _ in range(5):
        await asyncio.sleep(0)
    with pytest.raises(InboxOverloadedError):
        await inbox.submit(new("b"))
    await inbox.start()
    assert await first == SubmitOutcome.ACCEPTED
    await inbox.stop()


async def test_a_failed_group_commit_stores_nothing_of_the_batch(store: InboxStore) -> None:
    inbox = Inbox(store, MemoryFastDedup(), max_depth=100, max_backlog=100, batch_size=16)
    broken = NewEvent("t", "bad", "work", None, "rid", time.time())  # type: ignore[arg-type]
    good = asyncio.create_task(inbox.submit(new("good")))
    bad = asyncio.create_task(inbox.submit(broken))
    for _ in range(5):
        await asyncio.sleep(0)
    await inbox.start()  # both are in one batch; the NOT NULL violation aborts it whole
    results = await asyncio.gather(good, bad, return_exceptions=True)
    assert all(isinstance(r, StorageUnavailableError) for r in results)
    assert await store.get_by_key("t", "good") is None
    assert await inbox.submit(new("good")) == SubmitOutcome.ACCEPTED, "a retry of the good event then succeeds"
    await inbox.stop()


def claims_only_until_a_source_is_claimed(store: InboxStore) -> None:
    """From the claim that takes a ``source`` event on, claims find nothing: what runs after it can only
    have been handed to the workers at its commit."""
    claim = store.claim
    source_claimed = False

    async def claims_until_the_source(*args: object, **kwargs: object) -> list[Event]:
        nonlocal source_claimed
        if source_claimed:
            return []
        found = await claim(*args, **kwargs)  # type: ignore[arg-type]
        source_claimed = any(e.event_type == "source" for e in found)
        return found

    store.claim = claims_until_the_source  # type: ignore[method-assign]


async def test_outbox_events_of_a_handler_start_without_a_claim(store: InboxStore, running: Factory) -> None:
    """A handler's outbox event is leased to the pool in the commit that stores it and runs at once: here
    claims find nothing once the source event was claimed, so the follow-up can only run that way."""
    claims_only_until_a_source_is_claimed(store)
    handlers = EventHandlers()
    followed: list[tuple[str, int]] = []

    @handlers.on("source")
    async def source(event: Event) -> None:
        follow = NewEvent("t", "follow-" + event.dedup_key, "follow", "{}", "rid", time.time(), "conv-1")
        await inbox.commit(lambda conn: None, [follow])

    @handlers.on("follow")
    async def follow(event: Event) -> None:
        followed.append((event.dedup_key, event.attempt))

    inbox, _ = await running(handlers)
    await inbox.submit(new("s1", "source"))

    async def follow_done() -> bool:
        return await status_of(store, "follow-s1") == "done"

    await wait_until(follow_done)
    assert followed == [("follow-s1", 1)]


async def test_an_outbox_event_committed_as_its_handler_times_out_still_runs_at_once(
    store: InboxStore, running: Factory
) -> None:
    """The commit outlives its cancelled caller (here the handler's deadline passes during it): the event it
    leased at birth is handed to the workers all the same and runs now (claims find nothing once the source
    was claimed), not when its 30-second lease ends."""
    claims_only_until_a_source_is_claimed(store)
    handlers = EventHandlers()
    followed: list[str] = []

    def slow_work(conn: object) -> None:
        time.sleep(0.6)  # inside the transaction, past the handler's 0.3 s

    @handlers.on("source")
    async def source(event: Event) -> None:
        follow = NewEvent("t", "follow-" + event.dedup_key, "follow", "{}", "rid", time.time(), "conv-1")
        await inbox.commit(slow_work, [follow])

    @handlers.on("follow")
    async def follow(event: Event) -> None:
        followed.append(event.dedup_key)

    inbox, workers = await running(handlers, timeout=0.3, lease=30.0)
    await inbox.submit(new("s2", "source"))

    async def follow_done() -> bool:
        return await status_of(store, "follow-s2") == "done"

    await wait_until(follow_done, timeout=10.0)
    assert followed == ["follow-s2"]
    assert workers._reserved == 0  # the slot reserved for it came back
