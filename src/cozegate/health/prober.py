"""``HealthProber``: probes every running bot on an interval (with jitter), opens an incident after N
consecutive failures, runs the bot's recovery policy, alerts once, and closes the incident when
the next probes pass.

Recovery policies (``Recovery`` of the bot):

- ``republish``: publish the running release again through Coze;
- ``rollback``: while the incident is open, the bot's traffic goes to its last stable release (the
  last one that passed probes), if that is another Coze bot; otherwise it falls back to
- ``circuit_break``: while the incident is open, users get the bot's polite fallback reply and Coze
  is not called.

Probes keep checking the bot's own release; when they pass, the incident closes and the route is
lifted. An incident caused only by dependencies (database, Redis, reply URL) alerts and changes no
route: sending users elsewhere would not help them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cozegate.compliance.pii import PiiMasker
from cozegate.coze import CozeClient
from cozegate.health.alerts import Alert, Alerter
from cozegate.health.incidents import Incident, IncidentStore
from cozegate.health.ledger import ProbeLedger
from cozegate.health.probes import CheckResult, canary_chat, timed
from cozegate.health.routing import HealthRouting
from cozegate.lifecycle import BotRecord, LifecycleManager, Recovery
from cozegate.lifecycle.live_releases import LIVE
from cozegate.observability import metrics

log = logging.getLogger(__name__)

DependencyChecks = Callable[[BotRecord], dict[str, Callable[[], Awaitable[None]]]]
CANARY = "canary"


@dataclass
class ProbeReport:
    bot: str
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def canary_failed(self) -> bool:
        return any(c.name == CANARY and not c.ok for c in self.checks)

    @property
    def reason(self) -> str:
        return "; ".join(f"{c.name}: {c.error}" for c in self.checks if not c.ok)


@dataclass
class ProberSettings:
    interval: float = 30.0
    jitter: float = 0.1  # each wait is interval * (1 ± jitter)
    threshold: int = 3  # consecutive failures that open an incident
    timeout: float = 20.0  # per check
    stagger: float | None = None  # each bot's probe starts up to this late (default: interval * jitter)
    clock: Callable[[], float] = time.time
    random: random.Random = field(default_factory=random.Random)


class HealthProber:
    def __init__(
        self,
        manager: LifecycleManager,
        incidents: IncidentStore,
        ledger: ProbeLedger,
        client_for: Callable[[str], CozeClient],
        dependencies: DependencyChecks,
        alerter: Alerter,
        routing: HealthRouting,
        settings: ProberSettings | None = None,
        republish: Callable[[BotRecord], Awaitable[str | None]] | None = None,
    ) -> None:
        self._manager = manager
        self._incidents = incidents
        self._ledger = ledger
        self._client_for = client_for
        self._dependencies = dependencies
        self._alerter = alerter
        self.routing = routing
        self.settings = settings or ProberSettings()
        self._republish = republish
        self._mask = PiiMasker()

    @property
    def _now(self) -> float:
        return self.settings.clock()

    async def run(self) -> None:
        """Probe rounds forever (a background task of the server)."""
        while True:
            try:
                await self.round()
            except Exception:
                log.exception("health probe round failed")
            spread = self.settings.interval * self.settings.jitter
            await asyncio.sleep(self.settings.interval + self.settings.random.uniform(-spread, spread))

    async def round(self) -> list[ProbeReport]:
        """One probe of every running bot, then the incidents and routes that follow from it."""
        all_bots = await self._manager.store.all()
        bots = [b for b in all_bots if b.state in LIVE]
        reports = await asyncio.gather(*(self._probe_and_judge(bot) for bot in bots))
        await self._close_incidents_of_stopped_bots([b for b in all_bots if b.state not in LIVE])
        await self.refresh_routes()
        return [r for r in reports if r is not None]

    async def _probe_and_judge(self, bot: BotRecord) -> ProbeReport | None:
        """Probe the bot unless another replica did this interval; None when skipped (or on an error,
        which is logged: one bot's trouble must not stop the round for the others)."""
        try:
            stagger = (
                self.settings.interval * self.settings.jitter
                if self.settings.stagger is None
                else self.settings.stagger
            )
            if stagger > 0:  # bots spread their canaries over the interval instead of all at once
                await asyncio.sleep(self.settings.random.uniform(0, stagger))
            if not await self._ledger.claim(bot.name, _release_key(bot), self._now, self._min_gap):
                return None
            report = await self.probe(bot)
            await self._judge(bot, report)
        except Exception:
            log.exception("health: probing bot %s failed", bot.name)
            return None
        return report

    @property
    def _min_gap(self) -> float:
        """Seconds between two probes of one bot, whichever replicas run them."""
        return self.settings.interval * (1 - 2 * self.settings.jitter)

    async def probe(self, bot: BotRecord) -> ProbeReport:
        # a probe ends before the next one may start, so only one replica ever counts a bot's outcome
        timeout = min(self.settings.timeout, self._min_gap)
        checks = dict(self._dependencies(bot))
        if bot.coze_bot_id is not None:
            checks[CANARY] = canary_chat(self._client_for(bot.tenant), bot.coze_bot_id)
        results = await asyncio.gather(*(timed(name, check, timeout) for name, check in checks.items()))
        for result in results:
            metrics.PROBE_SECONDS.labels(bot.name, result.name).observe(result.seconds)
            if not result.ok:
                metrics.PROBE_FAILURES.labels(bot.name, result.name).inc()
        return ProbeReport(bot.name, list(results))

    async def refresh_routes(self) -> None:
        """Rebuild the routes from the open incidents of live bots (also those other replicas opened)."""
        bots = {b.name: b for b in await self._manager.store.all()}
        open_incidents = await self._incidents.all_open()
        pairs: list[tuple[str, Incident]] = []
        for incident in open_incidents:
            bot = bots.get(incident.bot)
            if bot is not None and bot.state in LIVE and bot.coze_bot_id is not None:
                pairs.append((bot.coze_bot_id, incident))
        self.routing.update(pairs)
        for name in bots:
            metrics.INCIDENTS_OPEN.labels(name).set(sum(1 for i in open_incidents if i.bot == name))

    async def _close_incidents_of_stopped_bots(self, stopped: list[BotRecord]) -> None:
        names = {b.name for b in stopped}
        for name in names:  # a bot deployed again later starts with a clean count
            await self._ledger.forget(name)
        for incident in await self._incidents.all_open():
            if incident.bot in names and await self._incidents.close(incident.id, self._now):
                log.info("health: incident %d closed: bot %s is no longer running", incident.id, incident.bot)

    async def _judge(self, bot: BotRecord, report: ProbeReport) -> None:
        now = self._now
        canary_ok = not report.canary_failed
        counts = await self._ledger.record(bot.name, _release_key(bot), report.ok, canary_ok, now)
        incident = await self._incidents.open_for(bot.name)
        if incident is not None:
            # a bot's incident closes when the bot answers again (a failing dependency alone does not
            # keep users on the fallback); a dependency's incident when everything passes
            healed = report.ok if incident.action == "alert_only" else canary_ok
            if healed and await self._incidents.close(incident.id, now):
                await self._resolved(bot, incident, now)
                return
            if not canary_ok and counts.canary_failures >= self.settings.threshold:
                if incident.action == "alert_only":
                    if await self._incidents.escalate(incident.id, bot.recovery.value, report.reason):
                        await self._recover_and_alert(bot, incident.id, report, escalated=True)
                elif incident.state == "open":  # its opener died before recovering: take over
                    await self._recover_and_alert(bot, incident.id, report)
            return
        if report.ok:
            if bot.release is not None:
                await self._manager.mark_stable(bot.name, bot.release)
            return
        log.warning("health: bot %s failed its probe (%d in a row): %s", bot.name, counts.failures, report.reason)
        if counts.failures < self.settings.threshold:
            return
        action = bot.recovery.value if report.canary_failed else "alert_only"
        opened = await self._incidents.open(bot.name, bot.tenant, report.reason, action, counts.last_ok_at, now)
        if opened is None:
            return  # another replica opened it
        metrics.INCIDENTS.labels(bot.name, action).inc()
        if counts.last_ok_at is not None:
            metrics.TIME_TO_DETECT.labels(bot.name).observe(now - counts.last_ok_at)
        await self._recover_and_alert(bot, opened.id, report)

    async def _recover_and_alert(
        self, bot: BotRecord, incident_id: int, report: ProbeReport, escalated: bool = False
    ) -> None:
        """Run the recovery and send the alert: once per incident, by whichever replica claims it."""
        if not await self._incidents.claim_recovery(incident_id):
            return
        result, route = await self._recover(bot, report)
        await self._incidents.recovered_by(incident_id, result, route)
        reason = self._mask(report.reason)
        log.error("health: incident %d of bot %s: %s; %s", incident_id, bot.name, reason, result)
        if await self._incidents.claim_alert(incident_id, "opened", self._now):
            lines = (
                f"tenant: {bot.tenant} · version: {bot.version} · Coze bot: {bot.coze_bot_id}",
                f"failing: {reason}",
                f"action: {result}",
            )
            what = "now fails its canary too" if escalated else "is unhealthy"
            await self._alerter.send(Alert(f"[cozegate] bot {bot.name} {what} (incident {incident_id})", lines))

    async def _recover(self, bot: BotRecord, report: ProbeReport) -> tuple[str, dict[str, str] | None]:
        if not report.canary_failed:
            return "alert only: a dependency is failing, not the bot", None
        if bot.recovery == Recovery.REPUBLISH and self._republish is not None:
            try:
                version = await self._republish(bot)
            except Exception as exc:
                return f"republish failed: {exc.__class__.__name__}", None
            return f"republished {bot.version} (Coze version {version})", None
        if bot.recovery == Recovery.ROLLBACK:
            stable = bot.rollback_target()
            if stable is not None:
                return f"traffic sent to stable version {stable.version}", {"redirect_to": stable.coze_bot_id}
            return "no other stable version to roll back to; circuit opened", {"fallback": bot.fallback_reply}
        return "circuit opened: users get the fallback reply", {"fallback": bot.fallback_reply}

    async def _resolved(self, bot: BotRecord, incident: Incident, now: float) -> None:
        metrics.TIME_TO_RECOVER.labels(bot.name).observe(now - incident.opened_at)
        log.info("health: incident %d of bot %s closed after %.0f s", incident.id, bot.name, now - incident.opened_at)
        if await self._incidents.claim_alert(incident.id, "resolved", now):
            lines = (f"recovered after {now - incident.opened_at:.0f} s", f"action taken: {incident.action_result}")
            await self._alerter.send(
                Alert(f"[cozegate] bot {bot.name} recovered (incident {incident.id})", lines, True)
            )


def _release_key(bot: BotRecord) -> str:
    return f"{bot.version}@{bot.coze_bot_id}"
