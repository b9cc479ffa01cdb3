"""Request ids: taken from ``x-request-id`` when it is sane, generated otherwise, always echoed."""

from __future__ import annotations

import itertools
import os
import re
import secrets

REQUEST_ID_HEADER = "x-request-id"
_SANE = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


class _RequestIds:
    """A random prefix per process and a counter: unique without a syscall per request."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = secrets.token_hex(6)
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):010x}"


_ids = _RequestIds()
os.register_at_fork(after_in_child=_ids.reset)  # forked server workers must not share a prefix


def new_request_id() -> str:
    return _ids.next()


def request_id_from(raw: str | None) -> str:
    if raw and _SANE.match(raw):
        return raw
    return new_request_id()
