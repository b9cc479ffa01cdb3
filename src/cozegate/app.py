"""Composition root: ``create_app(settings)`` builds the kernel, then each feature in ``FEATURES`` order.

The order is the start order (the kernel's own steps first, the workers last) and, reversed, the stop
order; a feature may use what an earlier one provides (``kernel.parts``). The app's route table holds
every route, the webhook and plugin hot paths first.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable

from starlette.types import ASGIApp

from cozegate.compliance.feature import compliance_feature
from cozegate.compliance.log_masking import masked_logging
from cozegate.console.feature import console_feature
from cozegate.conversations.feature import conversations_feature
from cozegate.conversations.handler_kit import HandlerKit
from cozegate.gateway.feature import gateway_feature
from cozegate.health.feature import health_feature
from cozegate.imports import load_object
from cozegate.inbox import EventHandlers
from cozegate.inbox.handlers import load_handlers
from cozegate.ingress.feature import ingress_feature
from cozegate.kernel.assembly import AssembledApp, Assembly
from cozegate.kernel.feature import Feature
from cozegate.kernel.kernel import Kernel
from cozegate.knowledge.feature import knowledge_feature
from cozegate.lifecycle.feature import lifecycle_feature
from cozegate.observability.http_metrics import HttpMetrics
from cozegate.observability.metrics_route import metrics_routes
from cozegate.observability.sentry import configure_sentry
from cozegate.observability.server_spans import ServerSpans
from cozegate.observability.tracing import configure_tracing, tracing_enabled
from cozegate.operator.feature import scaling_feature
from cozegate.plugins import LocalTools
from cozegate.plugins.feature import plugins_feature
from cozegate.settings import Settings

log = logging.getLogger(__name__)

# In start order; each may use the parts of those before it.
FEATURES: tuple[Callable[[Kernel], Feature], ...] = (
    plugins_feature,  # checked ready before anything acts on Coze
    lifecycle_feature,
    scaling_feature,
    health_feature,
    knowledge_feature,
    conversations_feature,
    compliance_feature,
    ingress_feature,
    gateway_feature,
    console_feature,
)


class CozegateApp(AssembledApp):
    """The gateway as one ASGI app; every HTTP request is counted and timed (``HttpMetrics``) and, with
    tracing on, gets a server span continuing the caller's W3C ``traceparent`` (``ServerSpans``)."""

    def __init__(self, kernel: Kernel, features: list[Feature]) -> None:
        self.kernel = kernel
        settings = kernel.settings
        super().__init__(
            Assembly(features, kernel.state, on_ready=self._ready),
            wrap=_observed,
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
        )

    def _ready(self) -> None:
        tune_garbage_collector()
        log.info(
            "cozegate ready",
            extra={
                "backend": self.kernel.db.dialect,
                "redis": self.kernel.redis is not None,
                "handlers": self.kernel.handlers.event_types(),
                "plugins": self.kernel.settings.plugins,
                "features": [feature.name for feature in self.assembly.features],
            },
        )


def _observed(app: ASGIApp) -> ASGIApp:
    return HttpMetrics(ServerSpans(app) if tracing_enabled() else app)


def tune_garbage_collector() -> None:
    """Collect young objects far less often and never rescan what start-up allocated.

    Measured with bench/webhook: CPython's default thresholds (700, 10, 10) made full collections
    over the start-up heap the main source of the ack path's p99 (about 50 ms, 8 ms without).
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def create_app(settings: Settings | None = None, handlers: EventHandlers | None = None) -> CozegateApp:
    settings = settings or Settings()
    registry = EventHandlers()
    if handlers is not None:
        registry.include(handlers)
    registry.include(load_handlers(settings.handler_modules))
    tools = LocalTools()
    for spec in settings.tool_modules:
        tools.include(load_object(spec, LocalTools))
    kernel = Kernel.build(settings, registry, tools)
    features = [*kernel.opening(), Feature("metrics", routes=metrics_routes())]
    features += [build(kernel) for build in FEATURES]
    features += kernel.closing()
    for feature in features:
        for event_type, handler in feature.handlers.items():
            registry.builtin(event_type, handler)
    registry.bind(kernel.parts.get(HandlerKit))  # every handler's parameters are checked here
    return CozegateApp(kernel, features)


def setup_process(settings: Settings) -> None:
    """Logging, tracing (standard ``OTEL_*`` variables) and error reporting of a server process. Each
    worker process of ``cozegate serve`` runs it: they are started fresh, not forked."""
    mask = masked_logging(settings)
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
