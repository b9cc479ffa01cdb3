"""How the commands show values to people."""

from __future__ import annotations

from datetime import UTC, datetime


def when(ts: float | None) -> str:
    """A Unix time as UTC ``YYYY-MM-DD HH:MM:SS``; ``-`` for none."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"
