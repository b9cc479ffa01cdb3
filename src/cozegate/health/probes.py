"""The checks of one probe: a canary chat with the bot through Coze, and the dependencies its answers
need (database, Redis, the tenant's reply URL). Each check returns a ``CheckResult``; none raises."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import redis.asyncio as aioredis
from sqlalchemy import text

from cozegate.coze import CozeClient
from cozegate.coze.chat_runner import run_chat
from cozegate.storage import Database

CANARY_USER = "cozegate-health-probe"
CANARY_TEXT = "cozegate health probe: please answer with one short sentence."


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    seconds: float
    error: str | None = None


async def timed(name: str, check: Callable[[], Awaitable[None]], limit_seconds: float) -> CheckResult:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit_seconds):
            await check()
    except TimeoutError:
        return CheckResult(name, False, time.perf_counter() - started, f"no answer within {limit_seconds:g} s")
    except Exception as exc:
        return CheckResult(name, False, time.perf_counter() - started, f"{exc.__class__.__name__}: {exc}"[:300])
    return CheckResult(name, True, time.perf_counter() - started)


def canary_chat(client: CozeClient, coze_bot_id: str) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        conversation = await client.create_conversation(bot_id=coze_bot_id, meta_data={"purpose": "health-probe"})
        try:
            answer = await run_chat(
                client, bot_id=coze_bot_id, user_id=CANARY_USER, conversation_id=conversation.id, text=CANARY_TEXT
            )
        finally:
            with contextlib.suppress(Exception):  # probes must not pile up conversations at Coze
                await client.delete_conversation(conversation.id)
        if not answer.text.strip():
            raise RuntimeError("the bot answered with nothing")

    return check


def database_check(db: Database) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        await db.read(lambda conn: conn.execute(text("SELECT 1")).scalar())

    return check


def redis_check(redis: aioredis.Redis) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        await redis.ping()

    return check


def reply_url_check(http: httpx.AsyncClient, url: str) -> Callable[[], Awaitable[None]]:
    """Reachable means an HTTP answer below 500 (a receiver may well refuse an unsigned HEAD)."""

    async def check() -> None:
        response = await http.head(url)
        if response.status_code >= 500:
            raise RuntimeError(f"HTTP {response.status_code}")

    return check
