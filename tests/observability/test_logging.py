"""JSON log lines and the masking hook that PII masking plugs into."""

from __future__ import annotations

import json
import logging
import re

from cozegate.observability.logging import JsonFormatter, request_id_var

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


def test_the_mask_rewrites_message_exception_and_extras_but_not_the_frame() -> None:
    formatter = JsonFormatter(mask=lambda text: EMAIL.sub("<email>", text))
    try:
        raise ValueError("no customer mei@example.com")
    except ValueError as error:
        line = formatter.format(record("lookup for %s", "omar@example.com", exc=error, who="ana@example.com"))
    entry = json.loads(line)
    assert "@example.com" not in line
    assert entry["msg"] == "lookup for <email>"
    assert entry["who"] == "<email>"
    assert "ValueError: no customer <email>" in entry["exc"]
    assert entry["logger"] == "cozegate.test"


def test_without_a_mask_nothing_is_rewritten() -> None:
    assert "mei@example.com" in JsonFormatter().format(record("mail mei@example.com"))
