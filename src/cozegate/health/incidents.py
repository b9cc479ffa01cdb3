"""``IncidentStore``: health incidents in the database, at most one open per bot. Opening, closing and
claiming an alert are each one conditional write, so replicas that probe the same bot open an
incident once and send each of its alerts once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from cozegate.storage import Database
from cozegate.storage.schema import health_incidents


@dataclass(frozen=True)
class Incident:
    id: int
    bot: str
    tenant: str
    state: str  # open | recovering | closed
    reason: str
    action: str
    action_result: str | None
    route: dict[str, str] | None  # {"redirect_to": coze bot id} or {"fallback": text} while open
    last_ok_at: float | None
    opened_at: float
    closed_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "bot": self.bot,
            "tenant": self.tenant,
            "state": self.state,
            "reason": self.reason,
            "action": self.action,
            "action_result": self.action_result,
            "route": self.route,
            "last_ok_at": self.last_ok_at,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
        }


def _incident(row: Row[Any]) -> Incident:
    m = row._mapping
    return Incident(
        m["id"],
        m["bot"],
        m["tenant"],
        m["state"],
        m["reason"],
        m["action"],
        m["action_result"],
        json.loads(m["route"]) if m["route"] else None,
        m["last_ok_at"],
        m["opened_at"],
        m["closed_at"],
    )


_OPEN = health_incidents.c.closed_at.is_(None)


class IncidentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def open(
        self, bot: str, tenant: str, reason: str, action: str, last_ok_at: float | None, now: float
    ) -> Incident | None:
        """Open an incident; None if the bot already has one open (perhaps opened by another replica)."""

        def work(conn: Connection) -> Incident | None:
            if conn.execute(select(health_incidents.c.id).where(health_incidents.c.bot == bot, _OPEN)).first():
                return None
            values = {
                "bot": bot,
                "tenant": tenant,
                "state": "open",
                "reason": reason,
                "action": action,
                "last_ok_at": last_ok_at,
                "opened_at": now,
            }
            new_id = conn.execute(insert(health_incidents).values(**values)).inserted_primary_key
            assert new_id is not None
            row = conn.execute(select(health_incidents).where(health_incidents.c.id == new_id[0])).one()
            return _incident(row)

        try:
            return await self._db.write(work)
        except IntegrityError:  # another replica opened it between our check and our insert
            return None

    async def claim_recovery(self, incident_id: int) -> bool:
        """True for exactly one caller: the one that runs the recovery (the opener, or if it died before
        claiming, the next replica whose probe fails)."""
        stmt = (
            update(health_incidents)
            .where(health_incidents.c.id == incident_id, health_incidents.c.state == "open")
            .values(state="recovering")
        )
        return bool(await self._db.write(lambda conn: conn.execute(stmt).rowcount == 1))

    async def escalate(self, incident_id: int, action: str, reason: str) -> bool:
        """An alert-only incident (a dependency failed) whose bot now fails too: recover it after all."""
        stmt = (
            update(health_incidents)
            .where(health_incidents.c.id == incident_id, health_incidents.c.action == "alert_only", _OPEN)
            .values(action=action, state="open", reason=reason, open_alert_at=None)
        )
        return bool(await self._db.write(lambda conn: conn.execute(stmt).rowcount == 1))

    async def recovered_by(self, incident_id: int, result: str, route: dict[str, str] | None) -> None:
        stmt = (
            update(health_incidents)
            .where(health_incidents.c.id == incident_id, _OPEN)
            .values(action_result=result, route=json.dumps(route) if route else None)
        )
        await self._db.write(lambda conn: conn.execute(stmt))

    async def close(self, incident_id: int, now: float) -> bool:
        stmt = (
            update(health_incidents)
            .where(health_incidents.c.id == incident_id, _OPEN)
            .values(state="closed", closed_at=now, route=None)
        )
        return bool(await self._db.write(lambda conn: conn.execute(stmt).rowcount == 1))

    async def claim_alert(self, incident_id: int, which: str, now: float) -> bool:
        """True for exactly one caller per incident and kind of alert (``opened`` or ``resolved``)."""
        column = health_incidents.c.open_alert_at if which == "opened" else health_incidents.c.close_alert_at
        stmt = (
            update(health_incidents)
            .where(health_incidents.c.id == incident_id, column.is_(None))
            .values({column.name: now})
        )
        return bool(await self._db.write(lambda conn: conn.execute(stmt).rowcount == 1))

    async def open_for(self, bot: str) -> Incident | None:
        stmt = select(health_incidents).where(health_incidents.c.bot == bot, _OPEN)

        def work(conn: Connection) -> Incident | None:
            row = conn.execute(stmt).first()
            return _incident(row) if row is not None else None

        return await self._db.read(work)

    async def all_open(self) -> list[Incident]:
        stmt = select(health_incidents).where(_OPEN).order_by(health_incidents.c.id)
        return await self._db.read(lambda conn: [_incident(r) for r in conn.execute(stmt)])

    async def recent(self, *, only_open: bool = False, bot: str | None = None, limit: int = 100) -> list[Incident]:
        stmt = select(health_incidents).order_by(health_incidents.c.id.desc()).limit(limit)
        if only_open:
            stmt = stmt.where(_OPEN)
        if bot is not None:
            stmt = stmt.where(health_incidents.c.bot == bot)
        return await self._db.read(lambda conn: [_incident(r) for r in conn.execute(stmt)])
