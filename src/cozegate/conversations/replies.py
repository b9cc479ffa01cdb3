"""Bot replies to a tenant's reply URL: the reply as an outbox event, and its signed delivery.

Each reply is its own inbox event (``cozegate.reply``, made by ``reply_event``), so delivery is
retried with backoff and dead-lettered like any event. The ``webhook-id`` is stable per reply, so a
receiver can drop the copy it may get if cozegate crashed between the receiver's 2xx and recording it.
"""

from __future__ import annotations

import json
import time

import httpx

from cozegate.conversations.store import ConversationStore
from cozegate.inbox import INTERNAL_EVENT_PREFIX, Event, NewEvent, PermanentError
from cozegate.observability.tracing import current_traceparent
from cozegate.tenants.live import LiveTenants
from cozegate.webhooks.signatures import standard_headers

REPLY_EVENT = INTERNAL_EVENT_PREFIX + "reply"


class ReplyDeliveryError(Exception):
    pass


def reply_event(
    source: Event, conversation_id: str | None, user_id: str | None, text: str, *, said: int | None = None
) -> NewEvent:
    """The outbox event that delivers ``text`` in reply to ``source``. Its key (the receiver's webhook-id)
    is derived from the source's: ``reply:<key>`` for the bot's answer (the pipeline's), ``say:<n>:<key>``
    for a handler's n-th ``say``; an event handled again replies under the same keys, so nothing is
    delivered twice, and the two forms never meet."""
    if said is None:
        key, event_id = f"reply:{source.dedup_key}", f"reply-{source.dedup_key}"
    else:
        key, event_id = f"say:{said}:{source.dedup_key}", f"say-{said}-{source.dedup_key}"
    body = {
        "event_type": "bot_reply",
        "event_id": event_id,
        "in_reply_to": source.dedup_key,
        "conversation_id": conversation_id,
        "user_id": user_id,
        "message": {"role": "assistant", "content": text},
    }
    return NewEvent(
        source.tenant,
        key,
        REPLY_EVENT,
        json.dumps(body, ensure_ascii=False),
        source.request_id,
        time.time(),
        f"reply:{source.tenant}/{conversation_id}" if conversation_id else None,
        current_traceparent(),
    )


class ReplyDelivery:
    def __init__(self, store: ConversationStore, tenants: LiveTenants, http: httpx.AsyncClient) -> None:
        self._store = store
        self._tenants = tenants
        self._http = http

    async def handle_reply(self, event: Event) -> None:
        tenant = self._tenants.current.bot(event.tenant)
        if tenant is None or not tenant.reply_url or tenant.reply_key is None:
            raise PermanentError(f"tenant {event.tenant} has no reply_url any more")
        body = event.payload_text.encode()
        headers = {
            "content-type": "application/json",
            **standard_headers(tenant.reply_key, event.dedup_key, int(time.time()), body),
            "x-request-id": event.request_id,
        }
        try:
            response = await self._http.post(tenant.reply_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ReplyDeliveryError(f"reply URL unreachable: {exc.__class__.__name__}") from exc
        if response.status_code in (408, 429) or response.status_code >= 500:
            raise ReplyDeliveryError(f"reply URL answered {response.status_code}")
        if response.status_code >= 400:
            raise PermanentError(f"reply URL refused the reply with {response.status_code}")
        source = json.loads(event.payload_text).get("in_reply_to", "")
        if event.dedup_key == f"reply:{source}":  # the bot's answer (a handler's ``say`` has no reply row)
            event.on_done(self._store.delivered_in(event.tenant, source))  # committed with the event's done
