"""JSON log lines and the masking hook that PII masking plugs into."""

from __future__ import annotations

import json
import logging
import re

import pytest

from cozegate.observability.logging import JsonFormatter, MaskingFilter, request_id_var

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def record(message: str, *args: object, exc: BaseException | None = None, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("cozegate.test", logging.ERROR, __file__, 1, message, args, None)
    if exc is not None:
        rec.exc_info = (type(exc), exc, exc.__traceback__)
    rec.__dict__.update(extra)
    return rec


def test_lines_carry_the_request_id_and_extras() -> None:
    token = request_id_var.set("req-7")
    try:
        entry = json.loads(JsonFormatter().format(record("tool %s failed", "lookup", tool="lookup")))
    finally:
        request_id_var.reset(token)
    assert entry["msg"] == "tool lookup failed"
    assert entry["request_id"] == "req-7"
    assert entry["tool"] == "lookup"


def masked_line(rec: logging.LogRecord) -> str:
    assert MaskingFilter(lambda text: EMAIL.sub("<email>", text)).filter(rec)
    return JsonFormatter().format(rec)


def test_the_mask_rewrites_message_exception_and_extras_but_not_the_frame() -> None:
    try:
        raise ValueError("no customer mei@example.com")
    except ValueError as error:
        line = masked_line(record("lookup for %s", "omar@example.com", exc=error, who="ana@example.com"))
    entry = json.loads(line)
    assert "@example.com" not in line
    assert entry["msg"] == "lookup for <email>"
    assert entry["who"] == "<email>"
    assert "ValueError: no customer <email>" in entry["exc"]
    assert entry["logger"] == "cozegate.test"


def test_without_a_mask_nothing_is_rewritten() -> None:
    assert "mei@example.com" in JsonFormatter().format(record("mail mei@example.com"))


def test_text_format_is_masked_too() -> None:
    rec = record("mail %s", "mei@example.com")
    assert MaskingFilter(lambda text: EMAIL.sub("<email>", text)).filter(rec)
    assert logging.Formatter("%(message)s").format(rec) == "mail <email>"


def test_the_cli_masks_every_line_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    from cozegate.compliance.log_masking import masked_logging
    from cozegate.settings import Settings

    try:
        masked_logging(Settings(log_level="INFO"))
        logging.getLogger("cozegate.test").info("customer 13812345678 asked")
        assert "customer 138****5678 asked" in capsys.readouterr().out
        masked_logging(Settings(log_level="INFO", pii_log_masking=False))
        logging.getLogger("cozegate.test").info("customer 13812345678 asked")
        assert "customer 13812345678 asked" in capsys.readouterr().out
    finally:
        logging.getLogger().handlers.clear()


def test_lines_carry_the_task_fields_and_trace_ids_as_stable_keys() -> None:
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, use_span

    from cozegate.observability.log_context import bind_log_fields, log_fields

    context = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, False, TraceFlags(1))
    with use_span(NonRecordingSpan(context)), log_fields(tenant="acme", event_type="message_create"):
        bind_log_fields(bot="bot-1", user=None)
        entry = json.loads(JsonFormatter().format(record("answered", tenant="from-the-record")))
    assert entry["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert entry["span_id"] == "00f067aa0ba902b7"
    assert entry["tenant"] == "from-the-record"  # the record's own extra wins
    assert entry["event_type"] == "message_create"
    assert entry["bot"] == "bot-1"
    assert "user" not in entry
    assert entry["level"] == "error"
    outside = json.loads(JsonFormatter().format(record("idle")))
    assert {"trace_id", "span_id", "tenant", "bot", "event_type"}.isdisjoint(outside)
