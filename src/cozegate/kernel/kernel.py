"""The kernel: the parts every feature builds on, made once per app from the settings.

Database and cache, the live tenants configuration and its source, the inbox (queue, handler
registry, workers, dead letters), the audit log, the Coze clients, the outbound HTTP client, token
buckets, the client-side tools, rollout exposures, and ``parts`` for what features hand to later features. Its own
start and stop steps frame the features': ``opening`` starts first and stops last (storage, clients,
tenants, inbox), ``closing`` starts last and stops first (the workers: they finish their events while
everything they use is still there).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import httpx
import redis.asyncio as aioredis
from pydantic import SecretStr
from starlette.routing import Mount
from starlette.types import ASGIApp

from cozegate.compliance import AuditLog
from cozegate.coze import CozeClient
from cozegate.coze.chat_runner import ToolRunner
from cozegate.coze.clients import SIMULATOR_MOUNT, CozeClients, build_coze_clients
from cozegate.http.bearer_guard import BearerGuard, LoopbackOnly
from cozegate.http.outbound import outbound_client
from cozegate.inbox import EventHandlers, Inbox, InboxStore, RetryPolicy, WorkerPool
from cozegate.inbox.dead_letters import DeadLetters
from cozegate.inbox.fast_dedup import FastDedup, MemoryFastDedup, RedisFastDedup
from cozegate.kernel.assembly import RunState
from cozegate.kernel.feature import Feature, Parts
from cozegate.observability.multiprocess import mark_this_process_dead
from cozegate.observability.sentry import flush_sentry
from cozegate.observability.tracing import flush_tracing
from cozegate.rate_limits import TokenBuckets, build_token_buckets
from cozegate.rollout import Exposures
from cozegate.settings import Settings
from cozegate.storage import Database, create_engine, create_redis, ensure_schema
from cozegate.tenants.feature import TenantsSource, tenants_feature
from cozegate.tenants.live import LiveTenants

log = logging.getLogger(__name__)

OUTBOUND_TIMEOUT = httpx.Timeout(10.0, connect=5.0)  # replies, alerts and dependency probes


@dataclass
class Kernel:
    settings: Settings
    db: Database
    redis: aioredis.Redis | None
    tenants: LiveTenants
    tenant_source: TenantsSource
    tenants_stage: Feature  # loads the configuration in force at start, follows its source while serving
    inbox: Inbox
    handlers: EventHandlers
    workers: WorkerPool
    dead_letters: DeadLetters
    audit: AuditLog
    coze: CozeClients
    http: httpx.AsyncClient
    buckets: TokenBuckets
    admin_token: SecretStr | None
    tools: ToolRunner | None = None
    exposures: Exposures = field(default_factory=Exposures)  # rollout assignments counted here
    parts: Parts = field(default_factory=Parts)
    state: RunState = field(default_factory=RunState)
    simulator: ASGIApp | None = None

    @classmethod
    def build(cls, settings: Settings, handlers: EventHandlers, tools: ToolRunner | None = None) -> Kernel:
        db = Database(create_engine(settings))
        redis = create_redis(settings)
        fast_dedup: FastDedup = RedisFastDedup(redis, settings.redis_prefix) if redis is not None else MemoryFastDedup()
        store = InboxStore(db)
        inbox = Inbox(
            store,
            fast_dedup,
            max_depth=settings.inbox_max_depth,
            max_backlog=settings.inbox_max_backlog,
            batch_size=settings.inbox_batch_size,
        )
        workers = WorkerPool(
            inbox,
            handlers,
            concurrency=settings.workers,
            lease_seconds=settings.lease_seconds,
            handler_timeout=settings.handler_timeout_seconds,
            poll_interval=settings.poll_interval_seconds,
            retry=RetryPolicy(settings.max_attempts, settings.retry_base_seconds, settings.retry_max_seconds),
        )
        inbox.on_committed(workers.wake)
        audit = AuditLog(db)
        coze, simulator = build_coze_clients(settings)
        tenants, source, tenants_stage = tenants_feature(settings, db, redis, audit)
        return cls(
            settings=settings,
            db=db,
            redis=redis,
            tenants=tenants,
            tenant_source=source,
            tenants_stage=tenants_stage,
            inbox=inbox,
            handlers=handlers,
            workers=workers,
            dead_letters=DeadLetters(store, audit),
            audit=audit,
            coze=coze,
            http=outbound_client(OUTBOUND_TIMEOUT),
            buckets=build_token_buckets(redis, settings.redis_prefix),
            admin_token=settings.resolved_admin_token(create=True),
            tools=tools,
            simulator=simulator,
        )

    def coze_for(self, tenant: str) -> CozeClient:
        """The Coze client of the tenant's account (the process's own if it brings none)."""
        return self.coze.for_tenant(self.tenants.current.bot(tenant))

    def opening(self) -> list[Feature]:
        """The kernel's steps before any feature's: started first, stopped last (in reverse)."""
        simulator = []
        if self.simulator is not None:  # its fault injection and request log answer to the admin token only
            token = self.admin_token.get_secret_value() if self.admin_token is not None else None
            admin_paths = f"{SIMULATOR_MOUNT}/sim/"
            guarded: ASGIApp = BearerGuard(self.simulator, token, lambda path: path.startswith(admin_paths))
            if not self.settings.coze_simulator_exposed:  # also when run under another server's --host
                guarded = LoopbackOnly(guarded)
            simulator = [Mount(SIMULATOR_MOUNT, app=guarded)]
        return [
            Feature("process", stop=_end_of_process),
            Feature("storage", start=self._open_storage, stop=self._close_storage),
            Feature("outbound-http", stop=self.http.aclose),
            Feature("coze", routes=simulator, stop=self.coze.aclose),
            self.tenants_stage,
            Feature("inbox", start=self._open_inbox, stop=self.inbox.stop),
        ]

    def closing(self) -> list[Feature]:
        """The kernel's steps after every feature's: the workers start last and stop first."""

        async def start_workers() -> None:
            self.workers.start()

        async def stop_workers() -> None:
            await self.workers.stop(self.settings.shutdown_grace_seconds)

        return [Feature("workers", start=start_workers, stop=stop_workers)]

    async def _open_storage(self) -> None:
        await ensure_schema(self.db.engine, migrate=self.settings.should_auto_migrate)

    async def _close_storage(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.close()

    async def _open_inbox(self) -> None:
        if self.db.is_sqlite:  # embedded: one process, so every lease left in the database is an orphan
            await self.inbox.store.release_all_leases(time.time())
        await self.inbox.start()


async def _end_of_process() -> None:
    log.info("cozegate stopped")
    flush_tracing()
    flush_sentry()
    mark_this_process_dead()
