"""Health in a running gateway: ``/healthz`` and ``/readyz``, and the prober that watches every live
bot (canary chat and dependencies), opens incidents, heals (republish, reroute, fallback) and alerts.

Provides ``HealthRouting`` (read by every conversation with a bot) and the ``IncidentStore``."""

from __future__ import annotations

from cozegate.health.alerts import Alerter
from cozegate.health.endpoints import health_routes
from cozegate.health.incidents import IncidentStore
from cozegate.health.ledger import ProbeLedger
from cozegate.health.probe_targets import dependency_checks
from cozegate.health.prober import HealthProber, ProberSettings
from cozegate.health.routing import HealthRouting
from cozegate.kernel.feature import BackgroundTask, Feature
from cozegate.kernel.kernel import Kernel
from cozegate.lifecycle import BotRecord, LifecycleManager
from cozegate.lifecycle.actuator import CozeActuator


def health_feature(kernel: Kernel) -> Feature:
    settings = kernel.settings
    actuator = kernel.parts.get(CozeActuator)
    routing = HealthRouting()
    incidents = IncidentStore(kernel.db)

    async def republish(bot: BotRecord) -> str | None:
        assert bot.release is not None
        return await actuator.publish(bot.tenant, bot.release)

    prober = HealthProber(
        kernel.parts.get(LifecycleManager),
        incidents,
        ProbeLedger(kernel.db),
        kernel.coze_for,
        dependency_checks(kernel.db, kernel.redis, kernel.http, kernel.tenants),
        Alerter(settings.alert_webhooks, kernel.http),
        routing,
        ProberSettings(
            interval=settings.health_probe_interval_seconds,
            threshold=settings.health_failure_threshold,
            timeout=settings.health_probe_timeout_seconds,
        ),
        republish=republish,
    )
    kernel.parts.provide(routing, incidents)
    state = kernel.state
    return Feature(
        "health",
        routes=health_routes(kernel.db, kernel.redis, lambda: state.accepting),
        tasks=[BackgroundTask("health-prober", prober.run)],
    )
