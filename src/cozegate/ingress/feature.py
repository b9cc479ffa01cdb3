"""Webhooks in a running gateway: ``POST /webhooks/{tenant}`` and the seed-compatible ``POST /coze/webhook``
(tenant ``default``) as hot routes, acknowledged once the event is durably in the inbox."""

from __future__ import annotations

from starlette.routing import Route

from cozegate.ingress.endpoint import SEED_PATH, WEBHOOKS_PREFIX, WebhookEndpoint
from cozegate.kernel.feature import Feature
from cozegate.kernel.kernel import Kernel
from cozegate.rate_limits import IngressQuota


def ingress_feature(kernel: Kernel) -> Feature:
    endpoint = WebhookEndpoint(
        kernel.tenants,
        kernel.inbox,
        max_body_bytes=kernel.settings.max_body_bytes,
        replay_window_seconds=kernel.settings.replay_window_seconds,
        quota=IngressQuota(
            kernel.buckets, rate=kernel.settings.ingress_tenant_rate, burst=kernel.settings.ingress_tenant_burst
        ),
    )
    return Feature(
        "ingress", hot_routes=[Route(WEBHOOKS_PREFIX + "{tenant:path}", endpoint), Route(SEED_PATH, endpoint)]
    )
