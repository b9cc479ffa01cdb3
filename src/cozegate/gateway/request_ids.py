"""Request ids: taken from ``x-request-id`` when it is sane, generated otherwise, always echoed."""

from __future__ import annotations

import re
import secrets

REQUEST_ID_HEADER = "x-request-id"
_SANE = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


def request_id_from(raw: str | None) -> str:
    if raw and _SANE.match(raw):
        return raw
    return secrets.token_hex(12)
