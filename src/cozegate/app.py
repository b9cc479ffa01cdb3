"""Composition root: ``create_app(settings)`` wires every part together and returns one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as aioredis
import yaml
from cozepy import AsyncTokenAuth
from cozepy.auth import Auth
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from cozegate.compliance import AuditLog
from cozegate.compliance.retention import purge_expired
from cozegate.compliance.subject_rights import SubjectRights
from cozegate.console import console_routes
from cozegate.conversations.context import ContextStore
from cozegate.conversations.context.cache import build_context_cache
from cozegate.conversations.pipeline import REPLY_EVENT, MessagePipeline
from cozegate.conversations.replies import ReplyDelivery
from cozegate.conversations.store import ConversationStore
from cozegate.coze import COZE_CN, COZE_COM, CozeClient, CozeCredentials, CozeRetryPolicy
from cozegate.coze.clients import CozeClients
from cozegate.gateway.admin_auth import Authenticator
from cozegate.gateway.admin_routes import admin_routes
from cozegate.gateway.bot_routes import bot_routes
from cozegate.gateway.chat_proxy import chat_routes
from cozegate.gateway.config_routes import config_routes
from cozegate.gateway.conversation_routes import conversation_routes
from cozegate.gateway.jwt_auth import JwtVerifier
from cozegate.gateway.knowledge_routes import knowledge_routes
from cozegate.gateway.privacy_routes import privacy_routes
from cozegate.gateway.rate_limits import ChatRateLimiter, MemoryTokenBuckets, RedisTokenBuckets, TokenBuckets
from cozegate.gateway.request_context import RequestIdMiddleware
from cozegate.gateway.rollout_routes import rollout_routes
from cozegate.health import health_routes
from cozegate.health.alerts import Alerter
from cozegate.health.incidents import IncidentStore
from cozegate.health.ledger import ProbeLedger
from cozegate.health.probe_targets import dependency_checks
from cozegate.health.prober import HealthProber, ProberSettings
from cozegate.health.routing import HealthRouting
from cozegate.inbox import EventHandlers, Inbox, InboxStore, RetryPolicy, WorkerPool
from cozegate.inbox.dead_letters import DeadLetters
from cozegate.inbox.fast_dedup import FastDedup, MemoryFastDedup, RedisFastDedup
from cozegate.inbox.loading import load_handlers, load_object
from cozegate.ingress import WebhookEndpoint, is_webhook_path
from cozegate.knowledge.augment import KnowledgeAugmenter
from cozegate.knowledge.events import KNOWLEDGE_SYNC_EVENT, knowledge_sync_handler
from cozegate.knowledge.service import KnowledgeService
from cozegate.lifecycle import BotRecord, BotStore, CozeActuator, LifecycleManager, Timeouts
from cozegate.observability.http_metrics import HttpMetrics
from cozegate.observability.metrics_route import metrics_routes
from cozegate.observability.multiprocess import mark_this_process_dead
from cozegate.observability.sentry import configure_sentry, flush_sentry
from cozegate.observability.server_spans import ServerSpans
from cozegate.observability.tracing import configure_tracing, flush_tracing, tracing_enabled
from cozegate.plugins import LocalTools, Plugin
from cozegate.plugins.server import PluginServer, is_plugin_path
from cozegate.rollout import Exposures
from cozegate.settings import Settings
from cozegate.storage import Database, create_engine, create_redis, ensure_schema
from cozegate.tenants import TenantRegistry, ensure_tenants_file
from cozegate.tenants.database_source import TenantsDatabaseSource
from cozegate.tenants.reload import TenantsFileReloader

log = logging.getLogger(__name__)


@dataclass
class Components:
    """The wired parts of a running app (tests and the CLI reach them through ``app.components``)."""

    settings: Settings
    db: Database
    redis: aioredis.Redis | None
    tenants: TenantRegistry
    inbox: Inbox
    workers: WorkerPool
    handlers: EventHandlers
    dead_letters: DeadLetters
    audit: AuditLog
    coze: CozeClient
    conversations: ConversationStore
    tools: LocalTools
    plugins: PluginServer
    contexts: ContextStore
    privacy: SubjectRights
    lifecycle: LifecycleManager
    prober: HealthProber
    knowledge: KnowledgeService
    accepting: bool = field(default=False)


class CozegateApp:
    """Routes the hot paths (webhooks, plugin calls) straight to their bare ASGI endpoints, the rest to Starlette.

    Every HTTP request is counted and timed (``HttpMetrics``); with tracing on, each gets a server span
    continuing the caller's W3C ``traceparent`` (``ServerSpans``).
    """

    def __init__(
        self, components: Components, webhook: WebhookEndpoint, plugins: PluginServer, framework: Starlette
    ) -> None:
        self.components = components
        self._webhook = webhook
        self._plugins = plugins
        self._framework = framework
        entry: ASGIApp = self._route
        if tracing_enabled():
            entry = ServerSpans(entry)
        self._entry = HttpMetrics(entry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_webhook_path(scope["path"]):
            await self._webhook(scope, receive, send)  # type: ignore[arg-type]
        elif scope["type"] == "http" and is_plugin_path(scope["path"]):
            await self._plugins(scope, receive, send)  # type: ignore[arg-type]
        else:
            await self._framework(scope, receive, send)


def tune_garbage_collector() -> None:
    """Collect young objects far less often and never rescan what start-up allocated.

    Measured with bench/webhook: CPython's default thresholds (700, 10, 10) made full collections
    over the start-up heap the main source of the ack path's p99 (about 50 ms, 8 ms without).
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


SIMULATOR_MOUNT = "/_coze_sim"
SIMULATOR_TOKEN = "test-token"  # noqa: S105 - the simulator's default token, not a secret
DEMO_BOT_ID = "bot-echo"


def build_coze_clients(settings: Settings) -> tuple[CozeClients, ASGIApp | None]:
    """The process's Coze client (without credentials: pointed at a simulator, built in unless a URL is
    given) and the clients of tenants with their own Coze account, made with the same settings."""
    credentials = CozeCredentials(
        token=settings.coze_token,
        jwt_client_id=settings.coze_jwt_client_id,
        jwt_private_key_file=settings.coze_jwt_private_key_file,
        jwt_public_key_id=settings.coze_jwt_public_key_id,
    )
    retry = CozeRetryPolicy(max_attempts=settings.coze_max_attempts)

    def client(auth: Auth, base_url: str) -> CozeClient:
        timeout = settings.coze_timeout_seconds
        return CozeClient(auth, base_url, timeout_seconds=timeout, stream_idle_seconds=timeout, retry=retry)

    simulator: ASGIApp | None = None
    if credentials.configured:
        base_url = settings.coze_base_url or COZE_COM
        default = client(credentials.build(base_url), base_url)
    elif settings.coze_base_url is not None:  # an external simulator (`cozegate sim`)
        base_url = settings.coze_base_url
        default = client(AsyncTokenAuth(SIMULATOR_TOKEN), base_url)
    else:
        from cozegate.coze.simulator import create_simulator_app

        log.warning("no Coze credentials (COZEGATE_COZE_TOKEN): bots answer from the built-in simulator")
        base_url = f"http://127.0.0.1:{settings.port}{SIMULATOR_MOUNT}"
        default, simulator = client(AsyncTokenAuth(SIMULATOR_TOKEN), base_url), create_simulator_app()

    def tenant_client(token: str, tenant_base_url: str | None) -> CozeClient:
        return client(AsyncTokenAuth(token), tenant_base_url or base_url)

    return CozeClients(default, tenant_client, {COZE_COM, COZE_CN, base_url}), simulator


def build_jwt_verifier(settings: Settings) -> JwtVerifier | None:
    if settings.jwt_issuer is None:
        return None
    return JwtVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        jwks_url=settings.jwt_jwks_url,
        keys_file=settings.jwt_keys_file,
        algorithms=settings.jwt_algorithms,
        leeway_seconds=settings.jwt_leeway_seconds,
        tenant_claim=settings.jwt_tenant_claim,
        roles_claim=settings.jwt_roles_claim,
        workspace_claim=settings.jwt_workspace_claim,
        refresh_interval=settings.jwt_jwks_refresh_seconds,
    )


def load_tenants(settings: Settings) -> TenantRegistry:
    path = settings.resolved_tenants_file
    demo_bot = DEMO_BOT_ID if settings.coze_token is None and settings.coze_jwt_client_id is None else None
    if settings.tenants_file is None and ensure_tenants_file(path, bot_id=demo_bot):
        log.info("created %s with a new secret for tenant `default`", path)
    return TenantRegistry.from_file(path)


def create_app(settings: Settings | None = None, handlers: EventHandlers | None = None) -> CozegateApp:
    settings = settings or Settings()
    all_handlers = EventHandlers()
    if handlers is not None:
        all_handlers.include(handlers)
    all_handlers.include(load_handlers(settings.handler_modules))

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
        all_handlers,
        concurrency=settings.workers,
        lease_seconds=settings.lease_seconds,
        handler_timeout=settings.handler_timeout_seconds,
        poll_interval=settings.poll_interval_seconds,
        retry=RetryPolicy(settings.max_attempts, settings.retry_base_seconds, settings.retry_max_seconds),
    )
    inbox.on_committed(workers.wake)
    audit = AuditLog(db)
    admin_token = settings.resolved_admin_token(create=True)
    jwt_verifier = build_jwt_verifier(settings)
    auth = Authenticator(admin_token, jwt_verifier, lambda workspace: components.tenants.tenant_of_workspace(workspace))

    coze_clients, simulator = build_coze_clients(settings)
    coze = coze_clients.default
    conversations = ConversationStore(db, store)
    tools = LocalTools()
    for spec in settings.tool_modules:
        tools.include(load_object(spec, LocalTools))
    plugins = PluginServer(load_object(spec, Plugin) for spec in settings.plugins)
    context_cache = build_context_cache(settings, redis)
    contexts = ContextStore(db, context_cache)
    pseudonym_key = settings.resolved_pseudonym_key(create=True)

    def coze_for(tenant: str) -> CozeClient:
        """The Coze client of the tenant's account (the process's own if it brings none)."""
        bot = components.tenants.bot(tenant)
        return coze if bot is None else coze_clients.for_account(bot.coze_token, bot.coze_base_url)

    async def delete_at_coze(tenant: str, conversation_id: str) -> None:
        await coze_for(tenant).delete_conversation(conversation_id)

    privacy = SubjectRights(
        db,
        contexts,
        audit,
        pseudonym_key.get_secret_value().encode() if pseudonym_key else None,
        delete_coze_conversation=delete_at_coze,
    )
    reply_http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
    exposures = Exposures()
    routing = HealthRouting()
    knowledge = KnowledgeService(settings, db, lambda: components.tenants, coze_for)
    pipeline = MessagePipeline(
        conversations,
        coze_clients,
        lambda: components.tenants,
        inbox,
        tools,
        exposures,
        routing,
        augment=KnowledgeAugmenter(knowledge, lambda: components.tenants),
    )
    scaler = None
    if settings.lifecycle_kubernetes_namespace is not None:  # kubernetes_asyncio only when it is used
        from cozegate.operator.scaler import ClusterScaler

        scaler = ClusterScaler(settings.lifecycle_kubernetes_namespace)
    actuator = CozeActuator(coze_for, scaler)
    lifecycle = LifecycleManager(
        BotStore(db),
        actuator,
        timeouts=Timeouts(
            deploying=settings.lifecycle_deploy_timeout_seconds,
            scaling=settings.lifecycle_scale_timeout_seconds,
            terminating=settings.lifecycle_terminate_timeout_seconds,
        ),
        exclusive=db.is_sqlite,  # embedded: one process, so a restart carries every deploy on at once
    )
    incidents = IncidentStore(db)

    async def republish(bot: BotRecord) -> str | None:
        assert bot.release is not None
        return await actuator.publish(bot.tenant, bot.release)

    prober = HealthProber(
        lifecycle,
        incidents,
        ProbeLedger(db),
        coze_for,
        dependency_checks(db, redis, reply_http, lambda: components.tenants),
        Alerter(settings.alert_webhooks, reply_http),
        routing,
        ProberSettings(
            interval=settings.health_probe_interval_seconds,
            threshold=settings.health_failure_threshold,
            timeout=settings.health_probe_timeout_seconds,
        ),
        republish=republish,
    )
    delivery = ReplyDelivery(conversations, lambda: components.tenants, reply_http)
    if "message_create" not in all_handlers.event_types():  # a user's own handler replaces the pipeline
        all_handlers.add("message_create", pipeline.handle_message)
    all_handlers.add(REPLY_EVENT, delivery.handle_reply)
    if KNOWLEDGE_SYNC_EVENT not in all_handlers.event_types():
        all_handlers.add(KNOWLEDGE_SYNC_EVENT, knowledge_sync_handler(knowledge))

    tenants = load_tenants(settings)
    components = Components(
        settings=settings,
        db=db,
        redis=redis,
        tenants=tenants,
        inbox=inbox,
        workers=workers,
        handlers=all_handlers,
        dead_letters=DeadLetters(store, audit),
        audit=audit,
        coze=coze,
        conversations=conversations,
        tools=tools,
        plugins=plugins,
        contexts=contexts,
        privacy=privacy,
        lifecycle=lifecycle,
        prober=prober,
        knowledge=knowledge,
    )

    def apply_tenants(registry: TenantRegistry) -> None:
        components.tenants = registry  # one assignment: requests see the old or the new configuration

    async def audit_config(actor: str, version: str, request_id: str | None, details: dict[str, Any]) -> None:
        await audit.record(actor=actor, action="config.apply", target=version, request_id=request_id, details=details)

    buckets: TokenBuckets = (
        RedisTokenBuckets(redis, settings.redis_prefix) if redis is not None else MemoryTokenBuckets()
    )
    limiter = ChatRateLimiter(
        buckets,
        tenant_rate=settings.chat_tenant_rate,
        tenant_burst=settings.chat_tenant_burst,
        user_rate=settings.chat_user_rate,
        user_burst=settings.chat_user_burst,
    )
    reloader: TenantsFileReloader | None = None
    database_source: TenantsDatabaseSource | None = None
    if settings.tenants_source == "database":
        channel = f"{settings.redis_prefix}config"
        database_source = TenantsDatabaseSource(db, redis, channel, apply_tenants, audit_config)
    else:
        reloader = TenantsFileReloader(settings.resolved_tenants_file, apply_tenants, audit_config, tenants)

    async def purge_now() -> dict[str, dict[str, int]]:
        return await purge_expired(db, contexts, components.tenants.retention_days())

    async def enforce_retention() -> None:
        interval = settings.retention_purge_interval_seconds
        while True:
            limits = components.tenants.retention_days()
            if limits:
                try:
                    removed = await purge_now()
                    log.info("retention enforced", extra={"removed": removed})
                except Exception:
                    log.exception("retention purge failed; it runs again in %.0f s", interval)
            await asyncio.sleep(interval)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        plugins.check_ready()
        await ensure_schema(db.engine, migrate=settings.should_auto_migrate)
        if database_source is not None:  # the configuration in force, before any event is handled
            seed_path = settings.resolved_tenants_file
            seed = yaml.safe_load(seed_path.read_text()) if seed_path.exists() else None
            components.tenants = await database_source.load(seed)
        if db.is_sqlite:
            await store.release_all_leases(time.time())
        await inbox.start()
        workers.start()
        await lifecycle.resume()
        await knowledge.start(exclusive=db.is_sqlite)
        background = [
            asyncio.create_task(enforce_retention(), name="retention"),
            asyncio.create_task(lifecycle.supervise(), name="lifecycle-deadlines"),
            asyncio.create_task(prober.run(), name="health-prober"),
            asyncio.create_task(knowledge.poll(), name="knowledge-sync-poller"),
        ]
        stop_watching = asyncio.Event()
        if database_source is not None:
            watching = asyncio.create_task(database_source.follow(), name="tenants-database-follow")
        else:
            assert reloader is not None
            watching = asyncio.create_task(reloader.watch(stop_watching), name="tenants-file-watch")
        tune_garbage_collector()
        components.accepting = True
        log.info(
            "cozegate ready",
            extra={
                "backend": db.dialect,
                "redis": redis is not None,
                "handlers": all_handlers.event_types(),
                "plugins": sorted(plugins.plugins),
            },
        )
        try:
            yield
        finally:
            components.accepting = False
            for task in background:
                task.cancel()
            await lifecycle.close()
            if scaler is not None:
                await scaler.aclose()
            stop_watching.set()
            watching.cancel()
            await workers.stop(settings.shutdown_grace_seconds)
            plugins.close()
            await inbox.stop()
            await knowledge.aclose()
            await coze_clients.aclose()
            await reply_http.aclose()
            if jwt_verifier is not None:
                await jwt_verifier.aclose()
            if redis is not None:
                await redis.aclose()
            await db.close()
            log.info("cozegate stopped")
            flush_tracing()
            flush_sentry()
            mark_this_process_dead()

    framework = Starlette(
        routes=[
            *health_routes(db, redis, lambda: components.accepting),
            *metrics_routes(),
            *admin_routes(components.dead_letters, inbox, workers, auth),
            *conversation_routes(conversations, auth),
            *privacy_routes(privacy, auth, purge=purge_now),
            *rollout_routes(lambda: components.tenants, exposures, auth),
            *console_routes(components, admin_token, incidents, exposures, database_source or reloader, buckets),
            *config_routes(reloader, database_source, auth),
            *chat_routes(
                conversations, coze_clients, lambda: components.tenants, exposures, limiter, auth, tools, routing
            ),
            *bot_routes(lifecycle, incidents, audit, auth, lambda: components.tenants),
            *knowledge_routes(knowledge, audit, auth, lambda: components.tenants),
            *([Mount(SIMULATOR_MOUNT, app=simulator)] if simulator is not None else []),
        ],
        middleware=[Middleware(RequestIdMiddleware)],
        lifespan=lifespan,
    )
    webhook = WebhookEndpoint(
        lambda: components.tenants,
        inbox,
        max_body_bytes=settings.max_body_bytes,
        replay_window_seconds=settings.replay_window_seconds,
    )
    return CozegateApp(components, webhook, plugins, framework)


def setup_process(settings: Settings) -> None:
    """Logging, tracing (standard ``OTEL_*`` variables) and error reporting of a server process. Each
    worker process of ``cozegate serve`` runs it: they are started fresh, not forked."""
    from cozegate.cli.logging_setup import log_masker, setup_logging

    mask = log_masker(settings)
    setup_logging(settings, mask=mask)
    configure_tracing()
    if settings.sentry_dsn is not None:
        from importlib.metadata import version

        configure_sentry(
            settings.sentry_dsn.get_secret_value(),
            environment=settings.sentry_environment,
            release=f"cozegate@{version('cozegate')}",
            mask=mask,
        )


def app_from_environment() -> CozegateApp:
    """Factory used by ``cozegate serve`` (the server imports it in its worker)."""
    settings = Settings()
    setup_process(settings)
    return create_app(settings)
