"""``LiveReleases``: which Coze bot serves each managed bot's traffic now: the release the lifecycle
considers live, not what a configuration file says. Running, scaling and terminating bots serve with
their release; a deploying bot keeps serving with the release it replaces (its ``previous``) until the
new one is live. Read on the hot path, so a dict swap; the manager refreshes it after every move of its
own and every second from the store (the moves of other replicas)."""

from __future__ import annotations

from collections.abc import Iterable

from cozegate.lifecycle.model import BotRecord
from cozegate.lifecycle.states import BotState

LIVE = (BotState.RUNNING, BotState.SCALING)  # what the health prober watches
SERVING = (*LIVE, BotState.TERMINATING)  # still answering until withdrawn


class LiveReleases:
    def __init__(self) -> None:
        self._by_tenant: dict[str, dict[str, str]] = {}  # tenant -> managed bot -> Coze bot id
        self._arriving: dict[str, set[str]] = {}  # tenant -> managed bots deploying their first release

    def refresh(self, bots: Iterable[BotRecord]) -> None:
        serving: dict[str, dict[str, str]] = {}
        arriving: dict[str, set[str]] = {}
        for bot in bots:
            release = bot.release if bot.state in SERVING else bot.previous if bot.state == BotState.DEPLOYING else None
            if release is not None:
                serving.setdefault(bot.tenant, {})[bot.name] = release.coze_bot_id
            elif bot.state == BotState.DEPLOYING:
                arriving.setdefault(bot.tenant, set()).add(bot.name)
        self._by_tenant, self._arriving = serving, arriving

    def coze_bot(self, tenant: str, managed_bot: str | None = None) -> str | None:
        """The Coze bot serving the tenant's managed bot: the one named, or its only one (None: none serving,
        or several and none named)."""
        live = self._by_tenant.get(tenant, {})
        if managed_bot is not None:
            return live.get(managed_bot)
        return next(iter(live.values())) if len(live) == 1 else None

    def arriving(self, tenant: str, managed_bot: str | None = None) -> bool:
        """Whether the tenant's managed bot (the one named, or any) is deploying its first release."""
        coming = self._arriving.get(tenant, set())
        return managed_bot in coming if managed_bot is not None else bool(coming)
