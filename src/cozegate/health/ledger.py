"""``ProbeLedger``: which replica probes a bot this interval, and the bot's consecutive failures.

Every replica runs probe rounds, but a bot is probed by the one replica that claims it (a
conditional write on ``probed_at``), so N replicas send one canary per interval, not N, and they
share one count of consecutive failures (which also survives a restart). The counts restart when
the bot's release changes: a new release starts with a clean slate.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cozegate.storage import Database
from cozegate.storage.schema import bot_probes


@dataclass(frozen=True)
class ProbeCounts:
    failures: int
    canary_failures: int
    last_ok_at: float | None


class ProbeLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, bot: str, release: str, now: float, min_gap: float) -> bool:
        """True if this caller probes ``bot`` now: nobody has within ``min_gap`` seconds."""

        def work(conn: Connection) -> bool:
            row = conn.execute(select(bot_probes.c.probed_at).where(bot_probes.c.bot == bot)).first()
            if row is None:
                conn.execute(
                    insert(bot_probes).values(
                        bot=bot, release=release, failures=0, canary_failures=0, last_ok_at=None, probed_at=now
                    )
                )
                return True
            stmt = (
                update(bot_probes)
                .where(bot_probes.c.bot == bot, bot_probes.c.probed_at <= now - min_gap)
                .values(probed_at=now)
            )
            return bool(conn.execute(stmt).rowcount == 1)

        try:
            return await self._db.write(work)
        except IntegrityError:  # another replica inserted the first claim at the same moment
            return False

    async def forget(self, bot: str) -> None:
        await self._db.write(lambda conn: conn.execute(delete(bot_probes).where(bot_probes.c.bot == bot)))

    async def record(self, bot: str, release: str, ok: bool, canary_ok: bool, now: float) -> ProbeCounts:
        """Count one probe's outcome (only the claimer writes, so read-then-write is safe)."""

        def work(conn: Connection) -> ProbeCounts:
            row = conn.execute(select(bot_probes).where(bot_probes.c.bot == bot)).one()
            same = row.release == release
            failures = 0 if ok else (row.failures if same else 0) + 1
            canary_failures = 0 if canary_ok else (row.canary_failures if same else 0) + 1
            last_ok_at = now if ok else (row.last_ok_at if same else None)
            conn.execute(
                update(bot_probes)
                .where(bot_probes.c.bot == bot)
                .values(release=release, failures=failures, canary_failures=canary_failures, last_ok_at=last_ok_at)
            )
            return ProbeCounts(failures, canary_failures, last_ok_at)

        return await self._db.write(work)
