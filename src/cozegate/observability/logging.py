"""Structured logging: JSON lines to stdout with stable keys.

Every line: ``ts, level, logger, msg``; in a request or an event's handling also ``request_id``, the
fields of ``log_context`` (``tenant``, ``bot``, ``event_type``, ``event_id``) and, when tracing is on,
``trace_id`` and ``span_id``; then the record's own extras.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from cozegate.observability.log_context import current_log_fields
from cozegate.observability.tracing import current_ids

Masker = Callable[[str], str]
"""Rewrites log text before it is written (the hook the PII masking of the compliance part plugs into)."""

request_id_var: ContextVar[str | None] = ContextVar("cozegate_request_id", default=None)

_UNMASKED = frozenset({"request_id", "trace_id", "span_id"})
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class MaskingFilter(logging.Filter):
    """Rewrites every record before any handler formats it: the message (with its arguments filled in),
    the exception text and every string extra pass through ``mask``."""

    def __init__(self, mask: Masker) -> None:
        super().__init__()
        self._mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        mask = self._mask
        record.msg, record.args = mask(record.getMessage()), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        for key, value in list(record.__dict__.items()):
            if key not in _RESERVED and key not in _UNMASKED:
                record.__dict__[key] = mask_strings(value, mask)
        return True


def mask_strings(value: Any, mask: Masker) -> Any:
    """Strings masked, inside dicts, lists and tuples too; other values as they are."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_strings(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_strings(v, mask) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line with stable keys (``ts, level, logger, msg, request_id`` + extras)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        ids = current_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        for key, value in current_log_fields().items():
            if key not in record.__dict__:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:
            entry["exc"] = record.exc_text
        elif record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "json", mask: Masker | None = None) -> None:
    """Route every logger to stdout in the chosen format (idempotent); ``mask`` rewrites every line."""
    handler = logging.StreamHandler(sys.stdout)
    if mask is not None:
        handler.addFilter(MaskingFilter(mask))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "granian.access", "httpx", "httpcore", "watchfiles"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
