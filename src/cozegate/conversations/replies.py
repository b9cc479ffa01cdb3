"""Delivery of bot replies to a tenant's reply URL, signed with Standard Webhooks.

Each reply is its own inbox event (``cozegate.reply``), so delivery is retried with backoff and
dead-lettered like any event. The ``webhook-id`` is stable per reply, so a receiver can drop the
copy it may get if cozegate crashed between the receiver's 2xx and recording it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx

from cozegate.conversations.store import ConversationStore
from cozegate.inbox import Event, PermanentError
from cozegate.ingress.signatures import sign_standard
from cozegate.tenants import TenantRegistry


class ReplyDeliveryError(Exception):
    pass


class ReplyDelivery:
    def __init__(
        self, store: ConversationStore, tenants: Callable[[], TenantRegistry], http: httpx.AsyncClient
    ) -> None:
        self._store = store
        self._tenants = tenants
        self._http = http

    async def handle_reply(self, event: Event) -> None:
        tenant = self._tenants().bot(event.tenant)
        if tenant is None or not tenant.reply_url or tenant.reply_key is None:
            raise PermanentError(f"tenant {event.tenant} has no reply_url any more")
        body = event.payload_text.encode()
        now = int(time.time())
        msg_id = event.dedup_key
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(now),
            "webhook-signature": sign_standard(tenant.reply_key, msg_id, now, body),
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
        await self._store.mark_delivered(event.tenant, source)
