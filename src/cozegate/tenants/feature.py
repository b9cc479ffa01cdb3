"""The tenants configuration of a running gateway: loaded at build, kept current by its source.

* ``file`` (default): the tenants file (created with a ``default`` tenant and a fresh secret on first
  start), watched and hot-reloaded.
* ``database``: versions in the database (the tenants file seeds version 1), followed across replicas.

Either way every part reads one ``LiveTenants`` handle, and every applied version is audited.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis
import yaml

from cozegate.compliance import AuditLog
from cozegate.kernel.feature import BackgroundTask, Feature
from cozegate.settings import Settings
from cozegate.storage import Database
from cozegate.tenants.database_source import TenantsDatabaseSource
from cozegate.tenants.live import LiveTenants
from cozegate.tenants.registry import TenantRegistry, ensure_tenants_file
from cozegate.tenants.reload import TenantsFileReloader

log = logging.getLogger(__name__)

DEMO_BOT_ID = "bot-echo"  # the built-in simulator's echo bot: a fresh embedded gateway answers at once
TenantsSource = TenantsFileReloader | TenantsDatabaseSource


def load_tenants_file(settings: Settings) -> TenantRegistry:
    """The tenants file's registry (created on first start unless a file was named)."""
    path = settings.resolved_tenants_file
    demo_bot = DEMO_BOT_ID if settings.coze_token is None and settings.coze_jwt_client_id is None else None
    if settings.tenants_file is None and ensure_tenants_file(path, bot_id=demo_bot):
        log.info("created %s with a new secret for tenant `default`", path)
    return TenantRegistry.from_file(path)


def tenants_feature(
    settings: Settings, db: Database, redis: aioredis.Redis | None, audit: AuditLog
) -> tuple[LiveTenants, TenantsSource, Feature]:
    tenants = LiveTenants(load_tenants_file(settings))

    async def audit_config(actor: str, version: str, request_id: str | None, details: dict[str, Any]) -> None:
        await audit.record(actor=actor, action="config.apply", target=version, request_id=request_id, details=details)

    if settings.tenants_source == "database":
        source = TenantsDatabaseSource(db, redis, f"{settings.redis_prefix}config", tenants.swap, audit_config)

        async def load_stored() -> None:  # the configuration in force, before any event is handled
            seed_path = settings.resolved_tenants_file
            seed = yaml.safe_load(seed_path.read_text()) if seed_path.exists() else None
            tenants.swap(await source.load(seed))

        feature = Feature(
            "tenants", start=load_stored, tasks=[BackgroundTask("tenants-database-follow", source.follow)]
        )
        return tenants, source, feature

    reloader = TenantsFileReloader(settings.resolved_tenants_file, tenants.swap, audit_config, tenants.current)
    stop_watching = asyncio.Event()

    watch = BackgroundTask(
        "tenants-file-watch",
        lambda: reloader.watch(stop_watching),
        interrupt=stop_watching.set,  # the watcher's thread ends at once, so its cancellation does not wait
    )
    return tenants, reloader, Feature("tenants", tasks=[watch])
