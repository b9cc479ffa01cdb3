"""The overview's per-minute series, computed by the database (SQLite and PostgreSQL), on rows with known times."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import insert

from cozegate.console.queries import MINUTE, ConsoleQueries, Window, read_stats
from cozegate.storage import Database
from cozegate.storage.schema import inbox_events

NOW = 1_800_000_000.0 + 42.5  # 42.5 s into a minute
WINDOW = Window.ending_at(NOW, 60)
START = WINDOW.start


def approx(value: float) -> Any:
    return pytest.approx(value, abs=1e-6)


def at(minute: int, second: float) -> float:
    """A time ``second`` seconds into minute ``minute`` of the window (0 = the oldest, 59 = now's)."""
    return START + minute * MINUTE + second


def row(key: str, status: str, received_at: float, **values: Any) -> dict[str, Any]:
    return {
        "tenant": "t",
        "dedup_key": key,
        "event_type": "x",
        "payload": "{}",
        "request_id": "r",
        "received_at": received_at,
        "status": status,
        "attempts": values.pop("attempts", 1),
        "available_at": values.pop("available_at", received_at),
        "attempt_log": json.dumps(values.pop("failures", [])),
        "finished_at": values.pop("finished_at", None),
        **values,
    }


def failure(when: float) -> dict[str, Any]:
    return {"attempt": 1, "at": when, "error": "RuntimeError: no"}


ROWS = [
    # minute 10: ten events done with latencies 0.1 .. 1.0 s (p50 = 0.5, p95 = 1.0)
    *[row(f"a{i}", "done", at(10, 1), finished_at=at(10, 1 + i / 10)) for i in range(1, 11)],
    # minute 58: one event done after 2 s, received in minute 57 (counted there)
    row("b", "done", at(57, 59), finished_at=at(58, 1)),
    # received before the window, finished in minute 0: processed yes, received no
    row("c", "done", START - 30, finished_at=at(0, 5)),
    # received before the window and finished before it: nowhere
    row("d", "done", START - 300, finished_at=START - 200),
    # dead in minute 20 after failures in minutes 19 and 20
    row("e", "dead", at(19, 0), finished_at=at(20, 3), failures=[failure(at(19, 1)), failure(at(20, 3))]),
    # dead long ago (a failure before the window): nothing counts
    row("f", "dead", START - 900, finished_at=START - 800, failures=[failure(START - 800)]),
    # failed once in minute 30, waiting for its retry (pending, no finished_at)
    row("g", "pending", at(30, 0), available_at=at(30, 9), failures=[failure(at(30, 4))]),
    # replayed dead letter: an old failure and a new one in minute 59
    row("h", "pending", START - 600, available_at=at(59, 1), failures=[failure(START - 500), failure(at(59, 0))]),
    # discarded: its failure counts, it is no dead letter now
    row("i", "discarded", at(40, 0), finished_at=at(41, 0), failures=[failure(at(40, 30))]),
    # done after a failure (retried successfully) in minute 50
    row("j", "done", at(50, 0), finished_at=at(50, 30), failures=[failure(at(50, 10))]),
    # processing now
    row("k", "processing", at(59, 10), available_at=NOW + 30),
]


async def test_series_per_minute_on_both_backends(db: Database) -> None:
    await db.write(lambda conn: conn.execute(insert(inbox_events), ROWS))
    stats = await db.read(lambda conn: read_stats(conn, WINDOW))

    received = [0] * 60
    received[10] = 10
    received[57] = 1
    received[19] = 1  # e
    received[30] = 1  # g
    received[40] = 1  # i
    received[50] = 1  # j
    received[59] = 1  # k
    assert stats.received == received

    processed = [0] * 60
    processed[10] = 10
    processed[58] = 1
    processed[0] = 1
    processed[50] = 1
    assert stats.processed == processed

    assert stats.p50[10] == approx(0.5)
    assert stats.p95[10] == approx(1.0)
    assert stats.p50[58] == approx(2.0)
    assert stats.p95[58] == approx(2.0)
    assert stats.p50[0] == approx(35.0)
    assert stats.p50[50] == approx(30.0)
    assert [i for i, v in enumerate(stats.p50) if v is not None] == [0, 10, 50, 58]
    assert [i for i, v in enumerate(stats.p95) if v is not None] == [0, 10, 50, 58]

    failed = [0] * 60
    failed[19] = 1
    failed[20] = 1
    failed[30] = 1
    failed[59] = 1
    failed[40] = 1
    failed[50] = 1
    assert stats.failed_attempts == failed

    dead = [0] * 60
    dead[20] = 1
    assert stats.dead_letters == dead

    as_json = stats.to_json()
    assert as_json["totals"] == {"received": 16, "processed": 13, "failed_attempts": 6, "dead_letters": 1}
    assert as_json["minutes"][0] == START
    assert as_json["minutes"][-1] == START + 59 * MINUTE
    assert START <= NOW < START + 60 * MINUTE
    assert START % MINUTE == 0


async def test_an_empty_inbox_and_the_cache(db: Database) -> None:
    clock = [NOW]
    queries = ConsoleQueries(db, clock=lambda: clock[0], cache_seconds=2)
    empty = await queries.stats()
    assert empty.received == [0] * 60
    assert empty.p50 == [None] * 60
    await db.write(lambda conn: conn.execute(insert(inbox_events), [row("z", "done", NOW - 1, finished_at=NOW)]))
    assert (await queries.stats()) is empty  # within the cache time: the same result
    clock[0] += 2
    fresh = await queries.stats()
    assert sum(fresh.received) == 1
    assert sum(fresh.processed) == 1
