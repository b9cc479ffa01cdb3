"""The ``knowledge_sync`` event: a tenant's signed webhook asks for a sync (``{"source": ...}`` optional).

It goes through the durable inbox like any event. The handler records the request in the database
and starts the sync in the background (a pass can take longer than a handler may run); if that start
is lost (a crash, the source busy with an earlier pass), the poller runs the recorded request within
15 s of the source being free. An unknown source is a permanent error (dead letter).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from cozegate.inbox import Event, PermanentError
from cozegate.knowledge.service import KnowledgeNotConfiguredError, KnowledgeService

KNOWLEDGE_SYNC_EVENT = "knowledge_sync"


def knowledge_sync_handler(service: KnowledgeService) -> Callable[[Event], Awaitable[None]]:
    async def handle(event: Event) -> None:
        try:
            body = json.loads(event.payload_text)
        except ValueError:
            raise PermanentError("knowledge_sync: the body is not JSON") from None
        source = body.get("source") if isinstance(body, dict) else None
        if source is not None and not isinstance(source, str):
            raise PermanentError("knowledge_sync: `source` must be a string")
        try:
            await service.request_sync(event.tenant, source)
        except KnowledgeNotConfiguredError as exc:
            raise PermanentError(str(exc)) from None

    return handle
