"""``LiveReleases``: which Coze bot serves each managed bot's traffic now: the release the lifecycle
considers live (running or scaling), not what a configuration file says. Read on the hot path, so a
dict swap; the manager refreshes it after every move of its own and every second from the store (the
moves of other replicas)."""

from __future__ import annotations

from collections.abc import Iterable

from cozegate.lifecycle.model import BotRecord
from cozegate.lifecycle.states import BotState

LIVE = (BotState.RUNNING, BotState.SCALING)


class LiveReleases:
    def __init__(self) -> None:
        self._by_tenant: dict[str, dict[str, str]] = {}  # tenant -> managed bot -> Coze bot id

    def refresh(self, bots: Iterable[BotRecord]) -> None:
        live: dict[str, dict[str, str]] = {}
        for bot in bots:
            if bot.state in LIVE and bot.release is not None:
                live.setdefault(bot.tenant, {})[bot.name] = bot.release.coze_bot_id
        self._by_tenant = live

    def coze_bot(self, tenant: str, managed_bot: str | None = None) -> str | None:
        """The Coze bot of the tenant's live managed bot: the one named, or its only one (None: none live,
        or several and none named)."""
        live = self._by_tenant.get(tenant, {})
        if managed_bot is not None:
            return live.get(managed_bot)
        return next(iter(live.values())) if len(live) == 1 else None
