"""The probe ledger: one claim per bot per interval among replicas, counts shared, restarted by a new release."""

from __future__ import annotations

import asyncio

from cozegate.health.ledger import ProbeLedger
from cozegate.storage import Database


async def test_one_replica_claims_a_bot_per_interval(db: Database) -> None:
    ledgers = [ProbeLedger(db) for _ in range(4)]  # four replicas at the same moment
    claims = await asyncio.gather(*(ledger.claim("bot", "v1@a", 100.0, 24.0) for ledger in ledgers))
    assert sorted(claims) == [False, False, False, True]
    assert not await ledgers[0].claim("bot", "v1@a", 110.0, 24.0)  # within the gap
    assert await ledgers[1].claim("bot", "v1@a", 124.0, 24.0)  # the next interval


async def test_counts_are_consecutive_and_restart_with_a_new_release(db: Database) -> None:
    ledger = ProbeLedger(db)
    await ledger.claim("bot", "v1@a", 0.0, 24.0)
    assert (await ledger.record("bot", "v1@a", ok=True, canary_ok=True, now=0.0)).last_ok_at == 0.0
    await ledger.record("bot", "v1@a", ok=False, canary_ok=False, now=30.0)
    counts = await ledger.record("bot", "v1@a", ok=False, canary_ok=True, now=60.0)
    assert (counts.failures, counts.canary_failures, counts.last_ok_at) == (2, 0, 0.0)
    counts = await ledger.record("bot", "v2@b", ok=False, canary_ok=False, now=90.0)  # a new release
    assert (counts.failures, counts.canary_failures, counts.last_ok_at) == (1, 1, None)
    counts = await ledger.record("bot", "v2@b", ok=True, canary_ok=True, now=120.0)
    assert (counts.failures, counts.canary_failures, counts.last_ok_at) == (0, 0, 120.0)
