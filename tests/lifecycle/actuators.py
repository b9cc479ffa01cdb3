"""A scripted actuator for lifecycle tests: each side effect succeeds, fails or hangs as the test says."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

from cozegate.lifecycle import BotRecord, Release

Mode = Literal["ok", "fail", "hang"]


@dataclass
class ScriptedActuator:
    mode: Mode = "ok"
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (what, bot or tenant, detail)
    hanging: int = 0  # side effects stuck right now
    live: dict[str, set[str]] = field(default_factory=dict)  # coze bot id -> connectors it is published on
    gate: asyncio.Event | None = None  # when set: publishing waits for it (after the bot went live)

    async def _act(self) -> None:
        if self.mode == "fail":
            raise RuntimeError("scripted failure")
        if self.mode == "hang":
            self.hanging += 1
            try:
                await asyncio.Event().wait()
            finally:
                self.hanging -= 1

    async def publish(self, tenant: str, release: Release) -> str | None:
        self.calls.append(("publish", release.coze_bot_id, release.version))
        # published before the outcome is known: a failure or a hang here is "Coze published it, and the
        # answer never came back", which a rollback must clean up
        self.live.setdefault(release.coze_bot_id, set()).update(release.connectors)
        if self.gate is not None:  # the request is slow: Coze applies it (again) when it gets through
            await self.gate.wait()
            self.live.setdefault(release.coze_bot_id, set()).update(release.connectors)
        await self._act()
        return "7"

    async def withdraw(self, tenant: str, release: Release) -> None:
        self.calls.append(("withdraw", release.coze_bot_id, release.version))
        # clean-up must work even when the forward step is failing: withdrawals never hang or fail here
        self.live.pop(release.coze_bot_id, None)

    async def scale(self, bot: BotRecord, replicas: int, *, wait: bool = True) -> None:
        self.calls.append(("scale", bot.name, str(replicas)))
        await self._act()
