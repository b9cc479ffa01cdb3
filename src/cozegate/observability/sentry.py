"""Optional error reporting to Sentry (``sentry-sdk``), on when a DSN is configured.

What is sent: error log lines (with their traceback) and unhandled exceptions, every string in them
passed through the same masker as the logs; no local variables, no request bodies, headers or cookies,
no default PII. Sentry's auto-enabling integrations stay off (they would patch the hot paths).
"""

from __future__ import annotations

import logging
from typing import Any

from cozegate.observability.logging import Masker, mask_strings

_SCRUBBED_REQUEST_KEYS = ("headers", "cookies", "data", "query_string", "env")


def configure_sentry(dsn: str, *, environment: str | None, release: str | None, mask: Masker | None) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration

    def before_send(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any] | None:
        return scrub_event(event, mask)

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        auto_enabling_integrations=False,
        # no breadcrumbs from log lines: without per-task scopes they would mix tenants' events
        integrations=[LoggingIntegration(level=None, event_level=logging.ERROR)],
        before_send=before_send,  # type: ignore[arg-type]
        before_breadcrumb=lambda crumb, _hint: _scrub_breadcrumb(crumb, mask),
    )


def flush_sentry(timeout: float = 2.0) -> None:
    import sentry_sdk

    if sentry_sdk.get_client().is_active():
        sentry_sdk.flush(timeout)


_TEXT_KEYS = ("message", "logentry", "extra", "breadcrumbs")


def scrub_event(event: dict[str, Any], mask: Masker | None) -> dict[str, Any]:
    """Mask the text an event carries (message, log entry and its arguments, extras, breadcrumbs, exception
    values), not its identifiers; drop what a request could carry."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in _SCRUBBED_REQUEST_KEYS:
            request.pop(key, None)
    if mask is None:
        return event
    for key in _TEXT_KEYS:
        if key in event:
            event[key] = mask_strings(event[key], mask)
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else None
    for value in values or []:
        if isinstance(value, dict) and isinstance(value.get("value"), str):
            value["value"] = mask(value["value"])
    return event


def _scrub_breadcrumb(crumb: dict[str, Any], mask: Masker | None) -> dict[str, Any]:
    if mask is None:
        return crumb
    for key in ("message", "data"):
        if key in crumb:
            crumb[key] = mask_strings(crumb[key], mask)
    return crumb
