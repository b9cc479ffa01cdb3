"""Operator actions on dead letters, shared by the admin API and ``cozegate dlq``; every one audited."""

from __future__ import annotations

import time
from typing import Protocol

from cozegate.inbox.model import Status, StoredEvent
from cozegate.inbox.store import InboxStore


class AuditRecorder(Protocol):
    async def record(
        self,
        *,
        actor: str,
        action: str,
        tenant: str | None = ...,
        target: str | None = ...,
        request_id: str | None = ...,
        details: dict[str, object] | None = ...,
    ) -> None: ...


class DeadLetterNotFoundError(LookupError):
    code = "dead_letter_not_found"

    def __str__(self) -> str:
        return f"no dead letter with id {self.args[0]}"


class DeadLetters:
    def __init__(self, store: InboxStore, audit: AuditRecorder) -> None:
        self._store = store
        self._audit = audit

    async def list(
        self,
        *,
        actor: str,
        tenant: str | None = None,
        after_id: int = 0,
        limit: int = 50,
        request_id: str | None = None,
    ) -> list[StoredEvent]:
        await self._audit.record(
            actor=actor,
            action="dead_letter.list",
            tenant=tenant,
            request_id=request_id,
            details={"after_id": after_id, "limit": limit},
        )
        return await self._store.list_by_status(Status.DEAD, tenant=tenant, after_id=after_id, limit=limit)

    async def _dead(self, event_id: int) -> StoredEvent:
        event = await self._store.get(event_id)
        if event is None or event.status != Status.DEAD.value:
            raise DeadLetterNotFoundError(event_id)
        return event

    async def _audited(self, action: str, event: StoredEvent, actor: str, request_id: str | None) -> StoredEvent:
        await self._audit.record(
            actor=actor, action=action, tenant=event.tenant, target=str(event.id), request_id=request_id
        )
        return event

    async def show(self, event_id: int, *, actor: str, request_id: str | None = None) -> StoredEvent:
        event = await self._dead(event_id)
        return await self._audited("dead_letter.show", event, actor, request_id)

    async def replay(self, event_id: int, *, actor: str, request_id: str | None = None) -> StoredEvent:
        event = await self._dead(event_id)
        if not await self._store.replay(event_id, time.time()):
            raise DeadLetterNotFoundError(event_id)
        return await self._audited("dead_letter.replay", event, actor, request_id)

    async def discard(self, event_id: int, *, actor: str, request_id: str | None = None) -> StoredEvent:
        event = await self._dead(event_id)
        if not await self._store.discard(event_id, time.time()):
            raise DeadLetterNotFoundError(event_id)
        return await self._audited("dead_letter.discard", event, actor, request_id)
