"""What the lifecycle's moves do outside cozegate: publish to Coze channels, withdraw, scale workers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from cozegate.coze import CozeClient
from cozegate.lifecycle.model import BotRecord, Release

log = logging.getLogger(__name__)


class Scaler(Protocol):
    async def __call__(self, bot: BotRecord, replicas: int, *, wait: bool = True) -> None:
        """Set the bot's worker count; with ``wait``, return once that many are ready."""


class Actuator(Protocol):
    async def publish(self, tenant: str, release: Release) -> str | None:
        """Make ``release`` live on its channels; returns what Coze calls the published version."""

    async def withdraw(self, tenant: str, release: Release) -> None:
        """Take ``release`` off its channels (no error if it was not on them)."""

    async def scale(self, bot: BotRecord, replicas: int, *, wait: bool = True) -> None:
        """Run ``replicas`` workers for the bot (``wait``: until they are ready)."""


class CozeActuator:
    """Publishes and withdraws through the Coze API with the tenant's account. Scaling is the scaler's
    job: under Kubernetes the operator applies a ``CozeBot``'s replicas; embedded, one process serves
    every bot and the count is only recorded."""

    def __init__(self, client_for: Callable[[str], CozeClient], scaler: Scaler | None = None) -> None:
        self._client_for = client_for
        self._scaler = scaler

    async def publish(self, tenant: str, release: Release) -> str | None:
        bot = await self._client_for(tenant).publish_bot(release.coze_bot_id, release.connectors)
        return bot.version

    async def withdraw(self, tenant: str, release: Release) -> None:
        client = self._client_for(tenant)
        for connector in release.connectors:
            await client.unpublish_bot(release.coze_bot_id, connector, reason="withdrawn by cozegate")

    def scale_with(self, scaler: Scaler) -> None:
        """Scale through ``scaler`` from now on (the operator's feature attaches the cluster's)."""
        self._scaler = scaler

    async def aclose(self) -> None:
        """Release the scaler's connections (after the manager's drives were cancelled)."""
        close = getattr(self._scaler, "aclose", None)
        if close is not None:
            await close()

    async def scale(self, bot: BotRecord, replicas: int, *, wait: bool = True) -> None:
        if self._scaler is not None:
            await self._scaler(bot, replicas, wait=wait)
        else:
            log.info("bot %s: %d replicas recorded (no scaler: embedded mode)", bot.name, replicas)
