"""Distributed backends for a benchmark run: a fresh PostgreSQL schema and a Redis key prefix of its own,
dropped afterwards, so runs never see each other's events."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator


def _pg(url: str, sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def fresh_schema(url: str) -> str:
    schema = f"bench_{secrets.token_hex(4)}"
    _pg(url, f'CREATE SCHEMA "{schema}"')
    return schema


def drop_schema(url: str, schema: str) -> None:
    _pg(url, f'DROP SCHEMA "{schema}" CASCADE')


def new_redis_prefix() -> str:
    return f"bench:{secrets.token_hex(4)}:"


def drop_redis_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for keys in _chunks(client.scan_iter(match=prefix + "*", count=10_000), 10_000):
        client.delete(*keys)


def _chunks(items: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
