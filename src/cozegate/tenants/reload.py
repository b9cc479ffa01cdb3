"""Hot reload of the tenants file: a valid change is swapped in whole; an invalid one is refused, the
last good configuration stays active, and the reason is logged, counted and shown at ``/admin/config``.

Each request reads the registry once (``LiveTenants.current``), and a reload replaces that reference
in one assignment, so no request ever sees half of a change. Every applied version is audited.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import watchfiles
import yaml
from pydantic import ValidationError

from cozegate.observability import metrics
from cozegate.tenants.registry import TenantRegistry

log = logging.getLogger(__name__)

Apply = Callable[[TenantRegistry], None]
Audit = Callable[[str, str, str | None, dict[str, Any]], Awaitable[None]]  # actor, version, request id, details


@dataclass
class ConfigStatus:
    source: str
    version: str = ""
    loaded_at: float = 0.0
    tenants: list[str] = field(default_factory=list)
    last_error: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "version": self.version,
            "loaded_at": self.loaded_at,
            "tenants": self.tenants,
            "last_error": self.last_error,
        }


def file_version(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class TenantsFileReloader:
    def __init__(self, path: Path, apply: Apply, audit: Audit, initial: TenantRegistry) -> None:
        self._path = path
        self._apply = apply
        self._audit = audit
        text = path.read_text(encoding="utf-8")
        self.status = ConfigStatus(f"file:{path}", file_version(text), time.time(), initial.names())

    async def reload(self) -> bool:
        """Read the file now; True if a new version was applied."""
        try:
            text = self._path.read_text(encoding="utf-8")
        except OSError as exc:
            return self._refuse(f"cannot read {self._path}: {exc.strerror}")
        version = file_version(text)
        if version == self.status.version:
            return False
        try:
            registry = TenantRegistry.from_text(text)
        except Exception as exc:  # any problem at all: the running configuration stays
            return self._refuse(reason_of(exc), version)
        self._apply(registry)
        previous = self.status.version
        self.status = ConfigStatus(self.status.source, version, time.time(), registry.names())
        metrics.CONFIG_RELOADS.labels("applied").inc()
        log.info("tenants configuration %s applied (was %s)", version, previous, extra={"tenants": registry.names()})
        details = {"previous": previous, "tenants": registry.names(), "source": self.status.source}
        await self._audit("config:file", version, None, details)
        return True

    def _refuse(self, reason: str, version: str | None = None) -> bool:
        metrics.CONFIG_RELOADS.labels("rejected").inc()
        self.status.last_error = {"at": time.time(), "version": version, "reason": reason}
        log.error("tenants configuration change refused, %s stays active: %s", self.status.version, reason)
        return False

    async def watch(self, stop_event: Any = None) -> None:
        """Reload whenever the file changes (editors that replace the file by renaming included)."""
        folder = self._path.parent
        async for changes in watchfiles.awatch(folder, stop_event=stop_event, debounce=200, step=50):
            if any(Path(changed).name == self._path.name for _, changed in changes):
                try:
                    await self.reload()
                except Exception:  # e.g. the audit write failed: the watch goes on
                    log.exception("tenants file change could not be handled completely")


def reason_of(exc: Exception) -> str:
    if isinstance(exc, yaml.YAMLError):  # where, never the text (the broken line may hold a secret)
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"not valid YAML{where}: {problem}"
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
    return f"{exc.__class__.__name__}: {exc}".splitlines()[0]
