"""The webhook ack hot path as a bare ASGI app: verify, parse, store durably, acknowledge.

``POST /webhooks/{tenant}`` and the seed-compatible ``POST /coze/webhook`` (tenant ``default``).
No framework objects and no logging above debug here: this path is benchmarked.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from cozegate.http.asgi import ClientGone, Receive, Refusal, Send, is_json_media_type, read_body, send_answer
from cozegate.http.errors import error_bytes
from cozegate.http.headers import RawHeaders
from cozegate.http.request_ids import request_id_from
from cozegate.inbox import (
    INTERNAL_EVENT_PREFIX,
    Inbox,
    InboxFullError,
    InboxOverloadedError,
    NewEvent,
    StorageUnavailableError,
    SubmitOutcome,
)
from cozegate.ingress.dedup import dedup_key
from cozegate.observability import metrics
from cozegate.observability.tracing import current_traceparent
from cozegate.rate_limits.ingress import IngressQuota, IngressQuotaError
from cozegate.tenants import DEFAULT_TENANT
from cozegate.tenants.live import LiveTenants
from cozegate.webhooks.envelope import EnvelopeError, parse_envelope
from cozegate.webhooks.signatures import SignatureError, verify_hub, verify_standard

log = logging.getLogger(__name__)

WEBHOOKS_PREFIX = "/webhooks/"
SEED_PATH = "/coze/webhook"

_ACK = b'{"status":"acknowledged"}'
_DUPLICATE = b'{"status":"duplicate"}'

Scope = dict[str, Any]


class WebhookEndpoint:
    def __init__(
        self,
        tenants: LiveTenants,
        inbox: Inbox,
        *,
        max_body_bytes: int,
        replay_window_seconds: float,
        quota: IngressQuota | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tenants = tenants
        self._quota = quota
        self._inbox = inbox
        self._max_body = max_body_bytes
        self._window = replay_window_seconds
        self._clock = clock
        self._counters = _Counters()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = RawHeaders(scope["headers"])
        request_id = request_id_from(headers.get("x-request-id"))
        try:
            status, body = await self._handle(scope, receive, headers, request_id)
            extra: list[tuple[bytes, bytes]] = []
        except Refusal as reject:
            self._counters.rejected(reject.code).inc()
            status = reject.status
            body = error_bytes(reject.code, reject.message, request_id, reject.details)
            extra = reject.headers
        except ClientGone:
            return
        await send_answer(send, status, body, request_id, extra)

    async def _handle(self, scope: Scope, receive: Receive, headers: RawHeaders, request_id: str) -> tuple[int, bytes]:
        path: str = scope["path"]
        tenant_name = DEFAULT_TENANT if path == SEED_PATH else path[len(WEBHOOKS_PREFIX) :]
        tenant = self._tenants.current.ingress(tenant_name) if "/" not in tenant_name else None
        self._counters.received(tenant.name if tenant else "unknown").inc()
        if scope["method"] != "POST":
            raise Refusal(405, "method_not_allowed", "webhooks are delivered with POST", headers=[(b"allow", b"POST")])
        if tenant is None:
            raise Refusal(404, "unknown_tenant", f"no tenant named {tenant_name!r} is configured")
        if not is_json_media_type(headers.get("content-type")):
            raise Refusal(415, "unsupported_media_type", "send the event as Content-Type: application/json")
        body = await read_body(receive, headers.get("content-length"), self._max_body)

        now = self._clock()
        keys = tenant.active_keys(now)
        try:
            if tenant.scheme == "standard":
                verify_standard(keys, headers, body, now=now, window=self._window)
            else:
                verify_hub(
                    keys,
                    headers,
                    body,
                    now=now,
                    window=self._window,
                    timestamp_header=tenant.timestamp_header,
                )
        except SignatureError as exc:
            raise Refusal(401, exc.code, exc.message) from None
        if self._quota is not None:  # counted once the event is genuine: a forger cannot spend a tenant's quota
            limits = tenant.limits
            try:
                await self._quota.take(tenant.name, limits.rate if limits else None, limits.burst if limits else None)
            except IngressQuotaError as exc:
                raise Refusal(
                    429,
                    "tenant_rate_limited",
                    str(exc),
                    headers=[(b"retry-after", str(exc.retry_after_seconds).encode())],
                ) from None

        try:
            envelope, text = parse_envelope(body)
            key = dedup_key(tenant.dedup, envelope, text, headers)
        except EnvelopeError as exc:
            raise Refusal(exc.status, exc.code, exc.message, details=exc.details) from None

        if envelope.event_type.startswith(INTERNAL_EVENT_PREFIX):
            raise Refusal(422, "invalid_event", f"event types starting with {INTERNAL_EVENT_PREFIX!r} are reserved")
        ordering = f"{tenant.name}/{envelope.conversation_id}" if envelope.conversation_id else None
        event = NewEvent(tenant.name, key, envelope.event_type, text, request_id, now, ordering, current_traceparent())
        try:
            outcome = await self._inbox.submit(event)
        except InboxFullError as exc:
            raise Refusal(
                503,
                "inbox_full",
                "too many events are waiting to be processed; retry later",
                headers=[(b"retry-after", str(exc.retry_after).encode())],
            ) from None
        except InboxOverloadedError as exc:
            raise Refusal(
                429,
                "ingress_overloaded",
                "too many events are being stored right now; retry shortly",
                headers=[(b"retry-after", str(exc.retry_after).encode())],
            ) from None
        except StorageUnavailableError as exc:
            log.warning("event not stored: %s", exc.__cause__.__class__.__name__)
            raise Refusal(
                503,
                "storage_unavailable",
                "the event could not be stored; nothing was kept, retry",
                headers=[(b"retry-after", str(exc.retry_after).encode())],
            ) from None
        if outcome is SubmitOutcome.ACCEPTED:
            self._counters.accepted(tenant.name).inc()
            return 200, _ACK
        self._counters.duplicates(tenant.name).inc()
        return 200, _DUPLICATE


class _Counters:
    """Labelled metric children looked up once per label value (labels() is not free on the hot path)."""

    def __init__(self) -> None:
        self.received = functools.cache(metrics.WEBHOOK_RECEIVED.labels)
        self.accepted = functools.cache(metrics.WEBHOOK_ACCEPTED.labels)
        self.duplicates = functools.cache(metrics.WEBHOOK_DUPLICATES.labels)
        self.rejected = functools.cache(metrics.WEBHOOK_REJECTED.labels)
