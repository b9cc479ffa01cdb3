"""Shared fixtures: real SQLite, real PostgreSQL and Redis (127.0.0.1), servers as real processes.

Backends run the same tests through the ``backend`` fixture: ``sqlite`` (embedded: SQLite file,
in-process dedup cache) and ``postgres`` (distributed: PostgreSQL in a fresh schema + Redis with a
fresh key prefix). Under ``CI=true`` a missing PostgreSQL or Redis fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis as sync_redis
import yaml

from cozegate.coze.dependency_warnings import silence_dependency_warnings
from cozegate.settings import Settings
from cozegate.storage import Database, create_engine, upgrade_to_head
from cozegate.tenants import new_standard_secret

silence_dependency_warnings()  # tests import cozepy themselves, before cozegate.coze would have

pytest_plugins = ["tests.support.pipeline_gateway"]  # its `simulator` and `receiver` fixtures

POSTGRES_URL = os.environ.get("COZEGATE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("COZEGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _service_missing(what: str, error: BaseException) -> None:
    message = f"{what} is not reachable ({error!r})"
    if IN_CI:
        pytest.fail(f"{message}: CI requires it; start it before the tests", pytrace=False)
    pytest.skip(message)


def _plain_pg_dsn() -> str:
    return POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")


@dataclass
class Backend:
    """A database (and cache) for one test, described as cozegate settings."""

    name: str
    env: dict[str, str]
    tmp: Path
    secret: str
    extra_tenants: dict[str, Any] = field(default_factory=dict)
    default_tenant: dict[str, Any] = field(default_factory=dict)  # more settings of tenant `default`

    @property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite"

    def write_tenants(self) -> Path:
        path = self.tmp / "tenants.yaml"
        tenants = {"default": {"secrets": [{"value": self.secret}], **self.default_tenant}, **self.extra_tenants}
        path.write_text(yaml.safe_dump({"tenants": tenants}))
        return path

    def settings_env(self, **overrides: str) -> dict[str, str]:
        env = {
            **self.env,
            "COZEGATE_STATE_DIR": str(self.tmp / "state"),
            "COZEGATE_TENANTS_FILE": str(self.write_tenants()),
            "COZEGATE_LOG_LEVEL": "INFO",
            "COZEGATE_RETRY_BASE_SECONDS": "0.05",
            "COZEGATE_RETRY_MAX_SECONDS": "0.2",
            "COZEGATE_POLL_INTERVAL_SECONDS": "0.05",
            "COZEGATE_ADMIN_TOKEN": "test-admin-token",
            "COZEGATE_PSEUDONYM_KEY": "test-pseudonym-key",
            "COZEGATE_HANDLER_MODULES": '["tests.support.sink_handlers:handlers"]',
            "SINK_DATABASE_URL": f"sqlite+aiosqlite:///{self.tmp / 'sink.db'}",
            "SINK_FIXED_FLAG": str(self.tmp / "fixed.flag"),
        }
        env.update(overrides)
        return env

    def settings(self, **overrides: Any) -> Settings:
        env = self.settings_env()
        values: dict[str, Any] = {
            "state_dir": Path(env["COZEGATE_STATE_DIR"]),
            "tenants_file": Path(env["COZEGATE_TENANTS_FILE"]),
            "retry_base_seconds": 0.05,
            "retry_max_seconds": 0.2,
            "poll_interval_seconds": 0.05,
            "admin_token": "test-admin-token",
        }
        if "COZEGATE_DATABASE_URL" in env:
            values["database_url"] = env["COZEGATE_DATABASE_URL"]
            values["database_schema"] = env["COZEGATE_DATABASE_SCHEMA"]
            values["auto_migrate"] = True
            values["redis_url"] = env["COZEGATE_REDIS_URL"]
            values["redis_prefix"] = env["COZEGATE_REDIS_PREFIX"]
        values.update(overrides)
        return Settings(**values)


async def _create_schema(schema: str) -> None:
    conn = await asyncpg.connect(_plain_pg_dsn(), timeout=5)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()


async def _drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(_plain_pg_dsn(), timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    secret = new_standard_secret()
    if request.param == "sqlite":
        yield Backend("sqlite", {}, tmp_path, secret)
        return
    schema = "cg_" + secrets.token_hex(6)
    prefix = f"cgtest:{secrets.token_hex(6)}:"
    try:
        asyncio.run(_create_schema(schema))
    except (OSError, asyncpg.PostgresError) as exc:
        _service_missing("PostgreSQL at " + POSTGRES_URL, exc)
    client = sync_redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except sync_redis.RedisError as exc:
        asyncio.run(_drop_schema(schema))
        _service_missing("Redis at " + REDIS_URL, exc)
    env = {
        "COZEGATE_DATABASE_URL": POSTGRES_URL,
        "COZEGATE_DATABASE_SCHEMA": schema,
        "COZEGATE_AUTO_MIGRATE": "true",
        "COZEGATE_REDIS_URL": REDIS_URL,
        "COZEGATE_REDIS_PREFIX": prefix,
    }
    try:
        yield Backend("postgres", env, tmp_path, secret)
    finally:
        asyncio.run(_drop_schema(schema))
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[Database]:
    """The backend's database, migrated to head."""
    database = Database(create_engine(backend.settings()))
    await upgrade_to_head(database.engine)
    yield database
    await database.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    yield
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not pending, f"tasks left running: {pending}"
