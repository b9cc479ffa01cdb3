"""A bounded log of the requests the simulator received, for tests (``GET /sim/requests``)."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

_HIDDEN_HEADERS = frozenset({"authorization", "cookie"})


@dataclass
class RequestRecord:
    seq: int
    logid: str
    at: float
    method: str
    path: str
    endpoint: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None
    auth: str = "n/a"  # ok | missing | invalid | n/a (endpoint needs no token)
    token_hint: str = ""  # last 4 characters of the bearer token
    bot_id: str | None = None
    stream: bool = False
    status: int | None = None
    faults: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "logid": self.logid,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "auth": self.auth,
            "token_hint": self.token_hint,
            "bot_id": self.bot_id,
            "stream": self.stream,
            "status": self.status,
            "faults": self.faults,
        }


class RequestLog:
    def __init__(self, limit: int) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=limit)
        self._seq = itertools.count(1)

    def record(
        self, *, logid: str, at: float, method: str, path: str, endpoint: str, query: dict[str, str], headers: Any
    ) -> RequestRecord:
        shown = {k.lower(): v for k, v in dict(headers).items() if k.lower() not in _HIDDEN_HEADERS}
        record = RequestRecord(next(self._seq), logid, at, method, path, endpoint, dict(query), shown)
        self._records.append(record)
        return record

    def list(self, *, path: str | None = None, endpoint: str | None = None) -> list[RequestRecord]:
        return [
            r
            for r in self._records
            if (path is None or r.path == path) and (endpoint is None or r.endpoint == endpoint)
        ]

    def clear(self) -> None:
        self._records.clear()
