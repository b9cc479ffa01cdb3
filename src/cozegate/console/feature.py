"""The operator web console in a running gateway (``/console``): its pages read the kernel's parts and
the lifecycle's, health's and rollout's."""

from __future__ import annotations

from cozegate.console.routes import ConsoleParts, console_routes
from cozegate.health.incidents import IncidentStore
from cozegate.kernel.feature import Feature
from cozegate.kernel.kernel import Kernel
from cozegate.lifecycle import LifecycleManager


def console_feature(kernel: Kernel) -> Feature:
    parts = ConsoleParts(
        settings=kernel.settings,
        db=kernel.db,
        inbox=kernel.inbox,
        workers=kernel.workers,
        dead_letters=kernel.dead_letters,
        audit=kernel.audit,
        lifecycle=kernel.parts.get(LifecycleManager),
        tenants=kernel.tenants,
        incidents=kernel.parts.get(IncidentStore),
        exposures=kernel.exposures,
        config=kernel.tenant_source,
        login_attempts=kernel.buckets,
        admin_token=kernel.admin_token,
    )
    return Feature("console", routes=console_routes(parts))
