"""kill -9 under load: every acknowledged event is stored, processed, and its effect applied once.

A real server process takes a few thousand signed events from 64 concurrent senders and is killed
with SIGKILL mid-load. After a restart, senders retry what got no answer (as real senders do). Then
every event that ever got a 2xx must be in the inbox, done, and in the idempotent handler's sink;
redeliveries are bounded by what was in flight at the kill.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx

from tests.conftest import Backend
from tests.support.inspect_db import inbox_rows, sink_rows
from tests.support.server import ServerProcess
from tests.support.signing import event_body, standard_headers

EVENTS = 3000
SENDERS = 64
WORKERS = 16


async def send_all(
    url: str,
    secret: str,
    keys: list[str],
    acked: set[str],
    stop_after: int | None,
    on_threshold: asyncio.Event,
) -> set[str]:
    """Send each key once; returns the keys that got no answer (connection died)."""
    unanswered: set[str] = set()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for k in keys:
        queue.put_nowait(k)
    limits = httpx.Limits(max_connections=SENDERS, max_keepalive_connections=SENDERS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def sender() -> None:
            while not queue.empty():
                key = queue.get_nowait()
                body = event_body(key)
                try:
                    r = await client.post("/coze/webhook", content=body, headers=standard_headers(secret, body))
                except httpx.HTTPError:
                    unanswered.add(key)
                    continue
                if r.status_code == 200:
                    assert r.json()["status"] in ("acknowledged", "duplicate")
                    acked.add(key)
                    if stop_after is not None and len(acked) >= stop_after:
                        on_threshold.set()
                else:
                    unanswered.add(key)

        await asyncio.gather(*(sender() for _ in range(SENDERS)))
    return unanswered


def test_kill_9_mid_load_loses_nothing_acknowledged(backend: Backend) -> None:
    env = backend.settings_env(
        COZEGATE_WORKERS=str(WORKERS), COZEGATE_LEASE_SECONDS="3", COZEGATE_HANDLER_TIMEOUT_SECONDS="2"
    )
    server = ServerProcess(env, backend.tmp / "server.log").start()
    keys = [f"crash-{i}" for i in range(EVENTS)]
    acked: set[str] = set()

    async def first_phase() -> set[str]:
        threshold = asyncio.Event()
        sending = asyncio.create_task(send_all(server.url, backend.secret, keys, acked, EVENTS // 3, threshold))
        await asyncio.wait_for(threshold.wait(), 120)
        server.kill()
        return await sending

    unanswered = asyncio.run(first_phase())
    acked_before_kill = set(acked)
    assert len(acked_before_kill) >= EVENTS // 3
    assert unanswered, "the kill must interrupt the load"

    server = ServerProcess(env, backend.tmp / "server2.log", port=server.port).start()
    try:
        retry_acked: set[str] = set()
        left = asyncio.run(send_all(server.url, backend.secret, sorted(unanswered), retry_acked, None, asyncio.Event()))
        assert left == set(), "after the restart every retried event is answered"

        deadline = time.monotonic() + 120
        while True:
            statuses = Counter(r["status"] for r in inbox_rows(backend))
            if statuses["pending"] == 0 and statuses["processing"] == 0:
                break
            assert time.monotonic() < deadline, f"inbox did not drain: {statuses}"
            time.sleep(0.2)
    finally:
        assert server.stop(), server.logs()

    rows = {r["dedup_key"]: r for r in inbox_rows(backend)}
    sink = sink_rows(backend)
    every_ack = acked_before_kill | retry_acked
    assert every_ack == set(keys), "every event was eventually acknowledged"
    missing = [k for k in acked_before_kill if k not in rows]
    assert missing == [], f"acknowledged before the kill but not stored: {missing[:5]}"
    assert {r["status"] for r in rows.values()} == {"done"}
    assert set(rows) == set(keys), "no event stored twice or invented"
    assert {k for (_, k) in sink} == set(keys), "every stored event's effect was applied"
    redelivered = {k: n for (_, k), n in sink.items() if n > 1}
    assert len(redelivered) <= WORKERS, f"redeliveries exceed what was in flight: {len(redelivered)}"
    print(
        f"\n[{backend.name}] acked before kill: {len(acked_before_kill)}, unanswered at kill: {len(unanswered)}, "
        f"stored: {len(rows)}, redelivered after crash: {len(redelivered)}"
    )
