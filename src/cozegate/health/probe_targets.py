"""Which dependencies a bot's probe checks: the database, Redis (distributed mode) and, when the
tenant has one, the URL its replies are delivered to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import redis.asyncio as aioredis

from cozegate.health.probes import database_check, redis_check, reply_url_check
from cozegate.lifecycle import BotRecord
from cozegate.storage import Database
from cozegate.tenants.live import LiveTenants


def dependency_checks(
    db: Database, redis: aioredis.Redis | None, http: httpx.AsyncClient, tenants: LiveTenants
) -> Callable[[BotRecord], dict[str, Callable[[], Awaitable[None]]]]:
    def for_bot(bot: BotRecord) -> dict[str, Callable[[], Awaitable[None]]]:
        checks = {"database": database_check(db)}
        if redis is not None:
            checks["redis"] = redis_check(redis)
        tenant = tenants.current.bot(bot.tenant)
        if tenant is not None and tenant.reply_url:
            checks["reply_url"] = reply_url_check(http, tenant.reply_url)
        return checks

    return for_bot
