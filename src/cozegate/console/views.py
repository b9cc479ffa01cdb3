"""What the bots and tenants pages show, gathered from the running parts (read-only).

Plain dataclasses for the templates; secret values never enter them (a tenant's keys are counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from cozegate.compliance.urls import display_url
from cozegate.health.incidents import Incident, IncidentStore
from cozegate.lifecycle import BotRecord, LifecycleManager
from cozegate.tenants import TenantRegistry
from cozegate.tenants.reload import ConfigStatus

RECENT_INCIDENTS = 5  # closed incidents shown per bot
RECENT_SCANNED = 500  # of the newest incidents of all bots


class ConfigSource(Protocol):
    """The tenants file reloader or the database source: both keep the status of what is in force."""

    status: ConfigStatus


@dataclass(frozen=True)
class BotView:
    bot: BotRecord
    open_incident: Incident | None
    recent_incidents: list[Incident]


async def bot_views(lifecycle: LifecycleManager, incidents: IncidentStore) -> list[BotView]:
    bots = await lifecycle.store.all()
    open_now = {incident.bot: incident for incident in await incidents.all_open()}
    closed: dict[str, list[Incident]] = {}
    for incident in await incidents.recent(limit=RECENT_SCANNED):  # newest first
        if incident.closed_at is not None:
            closed.setdefault(incident.bot, []).append(incident)
    return [BotView(bot, open_now.get(bot.name), closed.get(bot.name, [])[:RECENT_INCIDENTS]) for bot in bots]


@dataclass(frozen=True)
class TenantView:
    name: str
    bot_id: str | None
    experiment: str | None
    signature_scheme: str
    keys: int  # how many signing secrets (never their values)
    keys_expiring: int  # of those, how many have an expiry (a rotation under way)
    dedup: str
    reply_to: str | None  # scheme://host of the reply URL and a fingerprint of its path (no query, no credentials)
    own_coze_account: bool
    retention_days: int | None
    knowledge_sources: int
    extras: list[str] = field(default_factory=list)


def _reply_target(url: str | None) -> str | None:
    # the path can be the secret (incoming-webhook URLs): shown as a short fingerprint only
    return display_url(url, hide_path=True) if url is not None else None


def tenant_views(tenants: TenantRegistry) -> list[TenantView]:
    retention = tenants.retention_days()
    views = []
    for name in tenants.names():
        ingress = tenants.ingress(name)
        bot = tenants.bot(name)
        knowledge = tenants.knowledge(name)
        assert ingress is not None
        assert bot is not None
        dedup = ingress.dedup
        extras = []
        if bot.mask_pii_to_coze:
            extras.append(f"PII masked to Coze ({bot.mask_pii_to_coze})")
        if bot.chat_limits is not None:
            extras.append("own chat limits")
        if knowledge is not None and knowledge.augment is not None:
            extras.append("knowledge augmentation")
        views.append(
            TenantView(
                name=name,
                bot_id=bot.bot_id,
                experiment=bot.rollout.experiment if bot.rollout is not None else None,
                signature_scheme=ingress.scheme,
                keys=len(ingress.keys),
                keys_expiring=sum(1 for k in ingress.keys if k.expires_at is not None),
                dedup=f"header {dedup.header}" if dedup.source == "header" else f"body {dedup.path}",
                reply_to=_reply_target(bot.reply_url),
                own_coze_account=bot.coze_token is not None,
                retention_days=retention.get(name),
                knowledge_sources=len(knowledge.sources) if knowledge is not None else 0,
                extras=extras,
            )
        )
    return views


def config_status(source: ConfigSource | None) -> dict[str, Any] | None:
    return source.status.as_json() if source is not None else None
