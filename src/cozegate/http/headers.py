"""A read-only, case-insensitive view of ASGI's raw header list that decodes only what is read."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping


class RawHeaders(Mapping[str, str]):
    __slots__ = ("_raw",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        # ASGI servers lower-case header names; the last of repeated headers wins.
        self._raw = dict(raw)

    def __getitem__(self, name: str) -> str:
        return self._raw[name.lower().encode("latin-1")].decode("latin-1")

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        value = self._raw.get(name.encode("latin-1"))
        return value.decode("latin-1") if value is not None else default

    def __iter__(self) -> Iterator[str]:
        return (k.decode("latin-1") for k in self._raw)

    def __len__(self) -> int:
        return len(self._raw)
