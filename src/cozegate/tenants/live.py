"""``LiveTenants``: the tenants configuration in force, swapped whole when a new version is applied.

Every reader holds the same handle and reads ``current`` once per request (or event), so nothing ever
sees half of a change; the file watcher and the database source call ``swap``.
"""

from __future__ import annotations

from cozegate.tenants.registry import TenantRegistry


class LiveTenants:
    __slots__ = ("_current",)

    def __init__(self, initial: TenantRegistry) -> None:
        self._current = initial

    @property
    def current(self) -> TenantRegistry:
        return self._current

    def swap(self, registry: TenantRegistry) -> None:
        """Put ``registry`` in force (one assignment: readers see the old or the new configuration)."""
        self._current = registry
