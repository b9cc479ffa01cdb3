"""The tenants configuration kept in the database (distributed mode), edited through the admin API.

Every change is a new row of ``tenant_config_versions`` (the whole document, who, when): nothing is
edited in place, so every version stays readable. A change is checked before it is stored (an
invalid one is refused with the reason, and nothing changes), then announced on a Redis channel so
that every replica loads it within moments; each replica also polls for a newer version, so a missed
message only delays a replica by one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import Connection, insert, select

from cozegate.observability import metrics
from cozegate.storage import Database
from cozegate.storage.schema import tenant_config_versions
from cozegate.tenants.registry import TenantRegistry
from cozegate.tenants.reload import Audit, ConfigStatus, reason_of

log = logging.getLogger(__name__)

Apply = Callable[[TenantRegistry], None]
POLL_SECONDS = 5.0


class InvalidConfigError(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TenantsDatabaseSource:
    def __init__(self, db: Database, redis: aioredis.Redis | None, channel: str, apply: Apply, audit: Audit) -> None:
        self._db = db
        self._redis = redis
        self._channel = channel
        self._apply = apply
        self._audit = audit
        self.status = ConfigStatus("database")
        self._version = 0
        self._applying = asyncio.Lock()  # versions are applied one at a time, never an older after a newer

    async def load(self, seed: dict[str, Any] | None) -> TenantRegistry:
        """The newest stored version; with none yet, ``seed`` (the tenants file) becomes version 1."""
        row = await self._db.read(_newest)
        if row is None:
            if seed is None:
                raise RuntimeError("no tenants configuration in the database; PUT one to /admin/tenants")
            registry = TenantRegistry.from_document(seed)
            self._loaded(await self._store(seed, "seed:tenants-file", None), registry)
            return registry
        registry = TenantRegistry.from_document(json.loads(row.document))
        self._loaded(row.version, registry)
        return registry

    async def change(self, document: dict[str, Any], *, actor: str, request_id: str | None) -> int:
        """Check, store and announce a new version; raises ``InvalidConfigError`` (nothing stored) if invalid."""
        try:
            registry = TenantRegistry.from_document(document)
        except Exception as exc:
            metrics.CONFIG_RELOADS.labels("rejected").inc()
            self.status.last_error = {"at": time.time(), "version": None, "reason": reason_of(exc)}
            raise InvalidConfigError(reason_of(exc)) from None
        version = await self._store(document, actor, request_id)
        async with self._applying:
            if version > self._version:  # a newer version may have arrived while this one was stored
                self._apply(registry)
                self._loaded(version, registry)
        if self._redis is not None:
            with contextlib.suppress(aioredis.RedisError):  # the other replicas' polling catches up
                await self._redis.publish(self._channel, str(version))
        return version

    async def refresh(self) -> bool:
        """Load the newest version if it is newer than the one in force here."""
        async with self._applying:
            return await self._refresh()

    async def _refresh(self) -> bool:
        row = await self._db.read(_newest)
        if row is None or row.version <= self._version:
            return False
        try:
            registry = TenantRegistry.from_document(json.loads(row.document))
        except Exception as exc:  # stored by an older, more lenient cozegate: keep what works
            self.status.last_error = {"at": time.time(), "version": str(row.version), "reason": reason_of(exc)}
            metrics.CONFIG_RELOADS.labels("rejected").inc()
            self._version = row.version
            return False
        self._apply(registry)
        self._loaded(row.version, registry)
        metrics.CONFIG_RELOADS.labels("applied").inc()
        log.info("tenants configuration version %d applied", row.version, extra={"tenants": registry.names()})
        return True

    async def follow(self) -> None:
        """Apply changes made on any replica: at once when announced, otherwise on the next poll."""
        listening = asyncio.create_task(self._listen()) if self._redis is not None else None
        try:
            while True:
                await asyncio.sleep(POLL_SECONDS)
                try:
                    await self.refresh()
                except Exception:  # the database was away: try again next time, keep what is in force
                    log.exception("could not read the tenants configuration; retrying in %.0f s", POLL_SECONDS)
        finally:
            if listening is not None:
                listening.cancel()

    async def _listen(self) -> None:
        assert self._redis is not None
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            try:
                                await self.refresh()
                            except Exception:
                                log.exception("could not apply an announced configuration; polling will")
            except aioredis.RedisError:
                await asyncio.sleep(1.0)  # Redis is back soon, or polling carries on meanwhile
            except Exception:
                log.exception("the configuration announcements stopped; listening again")
                await asyncio.sleep(1.0)

    async def _store(self, document: dict[str, Any], actor: str, request_id: str | None) -> int:
        text = json.dumps(document, ensure_ascii=False, sort_keys=True)
        values = {"document": text, "created_at": time.time(), "actor": actor, "request_id": request_id}
        stmt = insert(tenant_config_versions).values(**values).returning(tenant_config_versions.c.version)
        version = await self._db.write(lambda conn: conn.execute(stmt).scalar_one())
        metrics.CONFIG_RELOADS.labels("applied").inc()
        await self._audit(actor, str(version), request_id, {"source": "database"})
        return int(version)

    def _loaded(self, version: int, registry: TenantRegistry) -> None:
        self._version = version
        self.status = ConfigStatus("database", str(version), time.time(), registry.names(), self.status.last_error)

    async def document(self) -> dict[str, Any]:
        row = await self._db.read(_newest)
        return json.loads(row.document) if row is not None else {}


def _newest(conn: Connection) -> Any:
    c = tenant_config_versions.c
    return conn.execute(select(c.version, c.document).order_by(c.version.desc()).limit(1)).first()
