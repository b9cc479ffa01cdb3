"""Console sessions ended by logging out, kept until they would have expired anyway: a copy of the cookie
taken before the logout opens nothing afterwards, on any replica (the database is shared)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, delete, insert, select

from cozegate.storage import Database
from cozegate.storage.schema import console_revoked_sessions as t


class RevokedSessions:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def revoke(self, nonce: str, expires_at: float) -> None:
        now = self._clock()

        def work(conn: Connection) -> None:
            conn.execute(delete(t).where(t.c.expires_at < now))  # the ended ones that expired meanwhile
            if conn.execute(select(t.c.nonce).where(t.c.nonce == nonce)).first() is None:
                conn.execute(insert(t).values(nonce=nonce, expires_at=expires_at))

        await self._db.write(work)

    async def is_revoked(self, nonce: str) -> bool:
        stmt = select(t.c.nonce).where(t.c.nonce == nonce)
        return await self._db.read(lambda conn: conn.execute(stmt).first() is not None)
