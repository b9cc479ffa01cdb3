"""Inbox storage semantics on both backends: dedup, leases, fencing, dead letters."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

from sqlalchemy import Connection, text

from cozegate.inbox import Event, InboxStore, NewEvent, Status, SubmitOutcome
from cozegate.inbox.store import Completion


def new(key: str, tenant: str = "t", at: float = 1000.0, ordering: str | None = None) -> NewEvent:
    return NewEvent(tenant, key, "message_create", '{"event_type":"message_create"}', "rid-" + key, at, ordering)


async def test_batch_dedups_within_and_across_batches(store: InboxStore) -> None:
    first = await store.insert_batch([new("a"), new("b"), new("a"), new("a", tenant="u")])
    assert first == [
        SubmitOutcome.ACCEPTED,
        SubmitOutcome.ACCEPTED,
        SubmitOutcome.DUPLICATE,
        SubmitOutcome.ACCEPTED,
    ]
    second = await store.insert_batch([new("b"), new("c")])
    assert second == [SubmitOutcome.DUPLICATE, SubmitOutcome.ACCEPTED]
    assert (await store.depth())["pending"] == 4


async def test_claim_leases_and_an_expired_lease_is_claimed_again(store: InboxStore) -> None:
    await store.insert_batch([new("a"), new("b"), new("c")])
    claimed = await store.claim("w1", 2, now=1001.0, lease_seconds=30)
    assert [e.dedup_key for e in claimed] == ["a", "b"]
    assert all(e.attempt == 1 for e in claimed)
    assert [e.dedup_key for e in await store.claim("w2", 10, now=1002.0, lease_seconds=30)] == ["c"]
    assert await store.claim("w2", 10, now=1010.0, lease_seconds=30) == []
    # w1 "crashed": after its lease runs out the events are due again, with the attempt counted
    again = await store.claim("w2", 10, now=1032.0, lease_seconds=30)
    assert sorted(e.dedup_key for e in again) == ["a", "b", "c"]
    assert all(e.attempt == 2 for e in again)


async def test_only_the_lease_holder_may_finish(store: InboxStore) -> None:
    await store.insert_batch([new("a")])
    [event] = await store.claim("w1", 1, now=1001.0, lease_seconds=5)
    [stolen] = await store.claim("w2", 1, now=1007.0, lease_seconds=5)
    assert stolen.id == event.id
    late = Completion(event.id, "w1", Status.DONE, 1008.0)
    assert await store.finish_batch([late]) == [False]
    assert await store.finish_batch([Completion(event.id, "w2", Status.DONE, 1008.0)]) == [True]
    stored = await store.get(event.id)
    assert stored is not None
    assert (stored.status, stored.attempts) == ("done", 2)


async def test_retry_then_dead_letter_then_replay_and_discard(store: InboxStore) -> None:
    await store.insert_batch([new("a"), new("b")])
    a, b = await store.claim("w", 2, now=1001.0, lease_seconds=5)
    retry = Completion(a.id, "w", Status.PENDING, 1001.5, retry_at=1003.0, error="boom", attempt_log='[{"attempt":1}]')
    dead = Completion(b.id, "w", Status.DEAD, 1001.5, error="fatal", attempt_log='[{"attempt":1}]')
    assert await store.finish_batch([retry, dead]) == [True, True]
    assert await store.claim("w", 5, now=1002.0, lease_seconds=5) == []  # not due before retry_at
    [again] = await store.claim("w", 5, now=1003.0, lease_seconds=5)
    assert (again.id, again.attempt, again.attempt_log) == (a.id, 2, [{"attempt": 1}])

    letters = await store.list_by_status(Status.DEAD)
    assert [(e.id, e.last_error) for e in letters] == [(b.id, "fatal")]
    assert await store.list_by_status(Status.DEAD, tenant="other") == []
    assert await store.replay(b.id, now=1004.0)
    assert not await store.replay(b.id, now=1004.0), "only a dead letter can be replayed"
    [replayed] = await store.claim("w", 5, now=1005.0, lease_seconds=5)
    assert (replayed.id, replayed.attempt) == (b.id, 1)
    await store.finish_batch([Completion(b.id, "w", Status.DEAD, 1006.0, error="fatal again")])
    assert await store.discard(b.id, now=1007.0)
    stored = await store.get(b.id)
    assert stored is not None
    assert stored.status == "discarded"


async def test_release_gives_events_back_without_counting_the_attempt(store: InboxStore) -> None:
    await store.insert_batch([new("a")])
    [event] = await store.claim("w", 1, now=1001.0, lease_seconds=60)
    assert await store.release([event.id], "other-owner", now=1002.0) == 0
    assert await store.release([event.id], "w", now=1002.0) == 1
    [again] = await store.claim("w", 1, now=1002.0, lease_seconds=60)
    assert again.attempt == 1


async def test_concurrent_claimers_never_share_an_event(store: InboxStore) -> None:
    """Rounds of 40 concurrent claimers: no event is leased twice, and together they drain the inbox."""
    await store.insert_batch([new(f"k{i}") for i in range(200)])
    ids: list[int] = []
    for _ in range(50):
        results = await asyncio.gather(*(store.claim(f"w{i}", 7, now=1001.0, lease_seconds=60) for i in range(40)))
        ids += [e.id for batch in results for e in batch]
        if len(ids) >= 200:
            break
    assert len(ids) == len(set(ids)) == 200


async def test_one_conversation_at_a_time_in_arrival_order(store: InboxStore) -> None:
    await store.insert_batch([new("a1", ordering="c/a"), new("b1", ordering="c/b"), new("a2", ordering="c/a")])
    await store.insert_batch([new("a3", ordering="c/a"), new("free")])
    first = await store.claim("w", 10, now=1001.0, lease_seconds=30)
    assert [e.dedup_key for e in first] == ["a1", "b1", "free"], "a2 and a3 wait for a1"
    assert await store.claim("w", 10, now=1001.0, lease_seconds=30) == []
    a1 = first[0]
    # a retry keeps its place: a2 still waits while a1 is pending again
    await store.finish_batch([Completion(a1.id, "w", Status.PENDING, 1001.0, retry_at=1005.0, error="x")])
    assert await store.claim("w", 10, now=1002.0, lease_seconds=30) == []
    [again] = await store.claim("w", 10, now=1005.0, lease_seconds=30)
    assert again.id == a1.id
    await store.finish_batch([Completion(a1.id, "w", Status.DEAD, 1006.0, error="gave up")])
    # a dead letter does not block the conversation for ever
    assert [e.dedup_key for e in await store.claim("w", 10, now=1006.0, lease_seconds=30)] == ["a2"]


async def test_tenants_take_turns_so_a_backlog_does_not_hold_up_another_tenant(store: InboxStore) -> None:
    """A tenant with a backlog gets no more than its turn while another tenant's events are due."""
    backlog = [new(f"a{i}", tenant="a", at=1000.0 + i / 100) for i in range(40)]
    conversations = [new(f"c{i}", tenant="c", at=1000.0 + i / 100, ordering=f"c/{i}") for i in range(40)]
    late = [new(f"b{i}", tenant="b", at=1001.0 + i) for i in range(3)]
    await store.insert_batch([*backlog, *conversations, *late])
    claimed = await store.claim("w", 9, now=2000.0, lease_seconds=30)
    by_tenant = Counter(e.tenant for e in claimed)
    assert by_tenant == {"a": 3, "b": 3, "c": 3}  # one each, in turn, though b's events arrived last
    rest = await store.claim("w", 100, now=2000.0, lease_seconds=30)
    assert Counter(e.tenant for e in rest) == {"a": 37, "c": 37}  # room for all: nobody is held back


async def test_new_events_heading_their_ordering_key_are_leased_at_birth(store: InboxStore) -> None:
    """An outbox event with no earlier unfinished event of its conversation starts leased (no claim); one
    behind such an event, or behind an earlier one of the same commit, waits pending for its turn."""
    await store.insert_batch([new("busy-1", ordering="conv-busy")])

    def commit(conn: Connection) -> tuple[set[tuple[str, str]], list[Event]]:
        batch = [
            new("free-1", ordering="conv-free"),
            new("free-2", ordering="conv-free"),  # behind free-1, in the same commit
            new("busy-2", ordering="conv-busy"),  # behind busy-1 (pending)
            new("loose"),  # no ordering key
            new("busy-1", ordering="conv-busy"),  # a duplicate: not stored again, not leased
        ]
        return store.insert_leased_in(conn, batch, "w1", until=2000.0)

    keys, leased = await store.db.write(commit)
    assert keys == {("t", "free-1"), ("t", "free-2"), ("t", "busy-2"), ("t", "loose")}
    assert sorted(e.dedup_key for e in leased) == ["free-1", "loose"]
    assert all(e.attempt == 1 and e.payload_text == '{"event_type":"message_create"}' for e in leased)
    rows = {key: await store.get_by_key("t", key) for key in ("free-1", "free-2", "busy-2", "loose")}
    assert {k: (r.status, r.attempts) for k, r in rows.items() if r} == {
        "free-1": ("processing", 1),
        "free-2": ("pending", 0),
        "busy-2": ("pending", 0),
        "loose": ("processing", 1),
    }
    # a claim does not take the leased ones again before their lease ends
    claimed = await store.claim("w2", 10, now=1001.0, lease_seconds=30)
    assert sorted(e.dedup_key for e in claimed) == ["busy-1"]


async def test_done_work_commits_with_the_done_and_not_with_a_failure(store: InboxStore) -> None:
    await store.insert_batch([new("a"), new("b")])
    a, b = await store.claim("w", 2, now=1001.0, lease_seconds=5)
    marks: list[str] = []

    def mark(key: str) -> Callable[[Connection], object]:
        return lambda conn: marks.append(key) or conn.execute(text("SELECT 1"))

    done = Completion(a.id, "w", Status.DONE, 1002.0, work=(mark("a"),))
    retry = Completion(b.id, "w", Status.PENDING, 1002.0, retry_at=1003.0, error="boom", work=(mark("b"),))
    assert await store.finish_batch([done, retry]) == [True, True]
    assert marks == ["a"]
