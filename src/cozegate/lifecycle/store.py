"""``BotStore``: managed bots and their history in the database. Every move is a compare-and-set on
``revision`` written together with its history row, so two replicas never both move a bot from the
same state, and the history holds exactly the moves that happened."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from cozegate.lifecycle.model import (
    BotRecord,
    Recovery,
    Release,
    Transition,
    releases_from_json,
    releases_to_json,
)
from cozegate.lifecycle.states import TRANSITIONAL, BotState, Trigger
from cozegate.storage import Database
from cozegate.storage.schema import bot_transitions, bots


def _record(row: Row[Any]) -> BotRecord:
    m = row._mapping
    release = None
    if m["coze_bot_id"] is not None and m["version"] is not None:
        release = Release(m["version"], m["coze_bot_id"], tuple(json.loads(m["connectors"])), m["replicas"])
    return BotRecord(
        name=m["name"],
        tenant=m["tenant"],
        state=BotState(m["state"]),
        release=release,
        replicas=m["replicas"],
        previous=Release.from_json(m["previous"]),
        stable=releases_from_json(m["stable"]),
        published=releases_from_json(m["published"]),
        recovery=Recovery(m["recovery"]),
        fallback_reply=m["fallback_reply"],
        deadline_at=m["deadline_at"],
        revision=m["revision"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _columns(bot: BotRecord) -> dict[str, Any]:
    return {
        "tenant": bot.tenant,
        "state": bot.state.value,
        "version": bot.version,
        "coze_bot_id": bot.coze_bot_id,
        "connectors": json.dumps(list(bot.release.connectors) if bot.release else []),
        "replicas": bot.replicas,
        "previous": bot.previous.to_json() if bot.previous else None,
        "stable": releases_to_json(bot.stable),
        "published": releases_to_json(bot.published),
        "recovery": bot.recovery.value,
        "fallback_reply": bot.fallback_reply,
        "deadline_at": bot.deadline_at,
        "updated_at": bot.updated_at,
    }


def _same_episode(bot: BotRecord) -> tuple[ColumnElement[bool], ...]:
    """The bot is still in the transitional state it was read in (each entry sets a new deadline)."""
    return bots.c.name == bot.name, bots.c.state == bot.state.value, bots.c.deadline_at == bot.deadline_at


class BotStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, name: str) -> BotRecord | None:
        def work(conn: Connection) -> BotRecord | None:
            row = conn.execute(select(bots).where(bots.c.name == name)).first()
            return _record(row) if row is not None else None

        return await self._db.read(work)

    async def all(self, tenant: str | None = None) -> list[BotRecord]:
        stmt = select(bots).order_by(bots.c.name)
        if tenant is not None:
            stmt = stmt.where(bots.c.tenant == tenant)
        return await self._db.read(lambda conn: [_record(r) for r in conn.execute(stmt)])

    async def in_transition(self) -> list[BotRecord]:
        stmt = select(bots).where(bots.c.state.in_([s.value for s in TRANSITIONAL])).order_by(bots.c.name)
        return await self._db.read(lambda conn: [_record(r) for r in conn.execute(stmt)])

    async def create(self, bot: BotRecord, actor: str) -> bool:
        """Insert a new bot (state ``pending``); False if the name is taken."""

        def work(conn: Connection) -> bool:
            if conn.execute(select(bots.c.name).where(bots.c.name == bot.name)).first() is not None:
                return False
            conn.execute(
                insert(bots).values(name=bot.name, revision=bot.revision, created_at=bot.created_at, **_columns(bot))
            )
            return True

        try:
            return await self._db.write(work)
        except IntegrityError:  # PostgreSQL: another replica created it between our check and our insert
            return False

    async def save(
        self,
        bot: BotRecord,
        expected_revision: int,
        transition: Transition | None = None,
        *,
        driver: str | None = None,
    ) -> bool:
        """Write ``bot`` if nobody changed it since ``expected_revision`` (with its history row); False
        otherwise. A move into a transitional state names the process that ``driver``s it."""

        def work(conn: Connection) -> bool:
            values = _columns(bot) if transition is None else {**_columns(bot), "driver": driver}
            stmt = (
                update(bots)
                .where(bots.c.name == bot.name, bots.c.revision == expected_revision)
                .values(revision=expected_revision + 1, **values)
            )
            if conn.execute(stmt).rowcount != 1:
                return False
            if transition is not None:
                conn.execute(
                    insert(bot_transitions).values(
                        bot=transition.bot,
                        from_state=transition.from_state.value,
                        to_state=transition.to_state.value,
                        trigger=transition.trigger.value,
                        version=transition.version,
                        replicas=transition.replicas,
                        actor=transition.actor,
                        detail=transition.detail,
                        at=transition.at,
                    )
                )
            return True

        return await self._db.write(work)

    async def touch(self, bot: BotRecord, driver: str, now: float) -> bool:
        """Heartbeat of ``driver``'s side effect for ``bot``'s transitional state (no revision bump: it
        changes nothing another writer could conflict with); False once the state ended or another
        process took it over (the caller then stops)."""
        stmt = update(bots).where(*_same_episode(bot), bots.c.driver == driver).values(updated_at=now)
        return bool(await self._db.write(lambda conn: conn.execute(stmt).rowcount == 1))

    async def take_over(self, bot: BotRecord, driver: str, now: float) -> bool:
        """Make ``driver`` run ``bot``'s transitional state, as read (its driver stopped beating)."""
        stmt = (
            update(bots)
            .where(*_same_episode(bot), bots.c.updated_at == bot.updated_at)
            .values(updated_at=now, driver=driver)
        )
        return bool(await self._db.write(lambda conn: conn.execute(stmt).rowcount == 1))

    async def history(self, name: str, limit: int = 100) -> list[Transition]:
        stmt = (  # the newest ``limit`` moves, returned oldest first
            select(bot_transitions)
            .where(bot_transitions.c.bot == name)
            .order_by(bot_transitions.c.id.desc())
            .limit(limit)
        )

        def work(conn: Connection) -> list[Transition]:
            return [
                Transition(
                    bot=r.bot,
                    from_state=BotState(r.from_state),
                    to_state=BotState(r.to_state),
                    trigger=Trigger(r.trigger),
                    actor=r.actor,
                    at=r.at,
                    version=r.version,
                    replicas=r.replicas,
                    detail=r.detail,
                )
                for r in reversed(conn.execute(stmt).all())
            ]

        return await self._db.read(work)
