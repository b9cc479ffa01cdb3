"""Self-healing end to end, on a controllable clock: the simulator's faults break a real bot (real
cozepy over loopback), the prober detects it within N probes, runs the recovery, alerts once per
incident to real chat webhooks, verifies the recovery with the next probes and closes the incident.
Two probers share the database as two replicas would."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from cozepy import AsyncTokenAuth

from cozegate.coze import CozeClient, CozeRetryPolicy
from cozegate.coze.simulator import create_simulator_app
from cozegate.health.alerts import Alerter
from cozegate.health.incidents import IncidentStore
from cozegate.health.ledger import ProbeLedger
from cozegate.health.probe_targets import dependency_checks
from cozegate.health.prober import HealthProber, ProberSettings
from cozegate.health.routing import HealthRouting
from cozegate.lifecycle import BotStore, CozeActuator, LifecycleManager, Recovery, Release
from cozegate.settings.model import AlertWebhook
from cozegate.storage import Database
from cozegate.tenants import TenantRegistry
from cozegate.tenants.live import LiveTenants
from tests.health.chat_webhooks import ChatWebhooks
from tests.support.sim_server import SimServer

INTERVAL = 30.0
THRESHOLD = 3
FEISHU_SECRET = "feishu-signing-secret"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    server = SimServer(create_simulator_app()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chats() -> Iterator[ChatWebhooks]:
    server = ChatWebhooks().start()
    yield server
    server.stop()


class Replica:
    """What one cozegate process holds for health: a lifecycle manager, a prober and its routes."""

    def __init__(self, db: Database, coze: CozeClient, http: httpx.AsyncClient, chats: ChatWebhooks, clock: Clock):
        self.coze = coze
        self.actuator = CozeActuator(lambda tenant: coze)
        self.manager = LifecycleManager(BotStore(db), self.actuator, clock=clock)
        self.routing = HealthRouting()
        channels = [
            AlertWebhook.model_validate({"kind": "feishu", "url": chats.url("feishu"), "secret": FEISHU_SECRET}),
            AlertWebhook.model_validate({"kind": "wecom", "url": chats.url("wecom")}),
            AlertWebhook.model_validate({"kind": "slack", "url": chats.url("slack")}),
        ]

        async def republish(bot):  # type: ignore[no-untyped-def]
            return await self.actuator.publish(bot.tenant, bot.release)

        registry = TenantRegistry.from_document({"tenants": {"default": {"secrets": [{"value": "whsec_MTIz"}]}}})
        self.prober = HealthProber(
            self.manager,
            IncidentStore(db),
            ProbeLedger(db),
            lambda tenant: coze,
            dependency_checks(db, None, http, LiveTenants(registry)),
            Alerter(channels, http, clock),
            self.routing,
            ProberSettings(interval=INTERVAL, threshold=THRESHOLD, timeout=10, stagger=0, clock=clock),
            republish=republish,
        )


@pytest.fixture
async def replicas(db: Database, sim: SimServer, chats: ChatWebhooks) -> AsyncIterator[tuple[Replica, Replica, Clock]]:
    sim.clear_faults()
    chats.received.clear()
    clock = Clock()
    coze = CozeClient(AsyncTokenAuth("test-token"), sim.url, retry=CozeRetryPolicy(max_attempts=1))
    http = httpx.AsyncClient(timeout=5)
    pair = (Replica(db, coze, http, chats, clock), Replica(db, coze, http, chats, clock), clock)
    yield pair
    for replica in pair[:2]:
        await replica.manager.close()  # type: ignore[union-attr]
    await coze.aclose()
    await http.aclose()
    sim.clear_faults()


async def deploy(replica: Replica, name: str, coze_bot: str, recovery: Recovery, version: str = "v1") -> None:
    await replica.manager.register(
        name, "default", recovery=recovery, fallback_reply="We will be right back.", actor="t"
    )
    await replica.manager.deploy(name, Release(version, coze_bot), actor="t")
    bot = await replica.manager.settled(name)
    assert bot.state == "running", bot


async def probe_rounds(a: Replica, b: Replica, clock: Clock, count: int) -> None:
    """``count`` probe intervals pass; both replicas probe in each."""
    for _ in range(count):
        clock.now += INTERVAL
        await a.prober.round()
        await b.prober.round()


def alert_titles(chats: ChatWebhooks) -> dict[str, list[str]]:
    return {
        "feishu": [m["content"]["text"].splitlines()[0] for m in chats.received["feishu"]],
        "wecom": [m["markdown"]["content"].splitlines()[0] for m in chats.received["wecom"]],
        "slack": [m["blocks"][0]["text"]["text"] for m in chats.received["slack"]],
    }


async def test_outage_is_detected_circuit_broken_alerted_once_and_closed_on_recovery(
    replicas: tuple[Replica, Replica, Clock], sim: SimServer, chats: ChatWebhooks
) -> None:
    a, b, clock = replicas
    await deploy(a, "echo", "bot-echo", Recovery.CIRCUIT_BREAK)
    await probe_rounds(a, b, clock, 1)
    assert (await a.manager.store.get("echo")).stable is not None  # type: ignore[union-attr]

    outage_at = clock.now
    sim.add_fault(kind="http_error", status=500, code=5000, bot_id="bot-echo")
    opened_after = None
    for probe in range(1, THRESHOLD + 2):
        await probe_rounds(a, b, clock, 1)
        if await a.prober._incidents.open_for("echo") is not None:
            opened_after = probe
            break
    assert opened_after == THRESHOLD, "the incident opens on the Nth consecutive failed probe, not before or after"
    incident = await a.prober._incidents.open_for("echo")
    assert incident is not None
    assert incident.state == "recovering"
    assert incident.action == "circuit_break"
    assert "canary" in incident.reason
    detected_at = incident.opened_at
    # both replicas serve the fallback while the circuit is open, without calling Coze
    assert a.routing.route("default", "bot-echo") == ("bot-echo", "We will be right back.")
    assert b.routing.route("default", "bot-echo") == ("bot-echo", "We will be right back.")

    sim.admin.delete("/sim/requests")
    await probe_rounds(a, b, clock, 3)  # still failing: no second incident, no second alert
    canaries = sim.admin.get("/sim/requests", params={"endpoint": "conversations.create"}).json()["requests"]
    assert len(canaries) == 3, "one canary per interval, whichever replica claimed it (not one per replica)"
    titles = alert_titles(chats)
    for kind in ("feishu", "wecom", "slack"):
        assert len(titles[kind]) == 1, (kind, titles)
        assert "unhealthy" in titles[kind][0]
    feishu = chats.received["feishu"][0]
    key = f"{feishu['timestamp']}\n{FEISHU_SECRET}".encode()
    assert feishu["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()

    sim.clear_faults()
    await probe_rounds(a, b, clock, 1)
    assert await a.prober._incidents.open_for("echo") is None
    closed = (await a.prober._incidents.recent(bot="echo"))[0]
    assert closed.state == "closed"
    assert closed.closed_at is not None
    assert a.routing.route("default", "bot-echo") == ("bot-echo", None)
    assert b.routing.route("default", "bot-echo") == ("bot-echo", None)
    titles = alert_titles(chats)
    for kind in ("feishu", "wecom", "slack"):
        assert len(titles[kind]) == 2, (kind, titles)
        assert "recovered" in titles[kind][1]

    time_to_detect = detected_at - outage_at
    time_to_recover = closed.closed_at - detected_at
    print(
        f"\ncircuit_break: time to detect {time_to_detect:.0f} s ({THRESHOLD} probes every {INTERVAL:.0f} s), "
        f"time to recover {time_to_recover:.0f} s"
    )
    assert time_to_detect == THRESHOLD * INTERVAL


async def test_rollback_sends_traffic_to_the_last_stable_version_while_the_new_one_fails(
    replicas: tuple[Replica, Replica, Clock], sim: SimServer
) -> None:
    a, b, clock = replicas
    await deploy(a, "shop", "bot-canned", Recovery.ROLLBACK, version="v1")
    await probe_rounds(a, b, clock, 1)  # v1 passes: it becomes the stable version
    await a.manager.deploy("shop", Release("v2", "bot-echo"), actor="t")
    assert (await a.manager.settled("shop")).version == "v2"
    await probe_rounds(a, b, clock, 1)  # v2 passes too: both are stable now, v2 the most recent
    assert [r.version for r in (await a.manager.store.get("shop")).stable] == ["v1", "v2"]  # type: ignore[union-attr]

    sim.add_fault(kind="http_error", status=500, code=5000, bot_id="bot-echo")
    await probe_rounds(a, b, clock, THRESHOLD)
    incident = await a.prober._incidents.open_for("shop")
    assert incident is not None
    assert incident.action == "rollback"
    assert a.routing.route("default", "bot-echo") == ("bot-canned", None)  # users of v2 are served by v1

    sim.clear_faults()
    await probe_rounds(a, b, clock, 1)
    assert await a.prober._incidents.open_for("shop") is None
    assert a.routing.route("default", "bot-echo") == ("bot-echo", None)


async def test_republish_publishes_the_running_release_again(
    replicas: tuple[Replica, Replica, Clock], sim: SimServer
) -> None:
    a, b, clock = replicas
    await deploy(a, "canned", "bot-canned", Recovery.REPUBLISH)
    published_before = _publishes(sim, "bot-canned")
    sim.add_fault(kind="http_error", status=500, code=5000, bot_id="bot-canned", endpoint="chat.*")
    await probe_rounds(a, b, clock, THRESHOLD)
    incident = await a.prober._incidents.open_for("canned")
    assert incident is not None
    assert incident.action == "republish"
    assert incident.action_result is not None
    assert incident.action_result.startswith("republished v1")
    assert _publishes(sim, "bot-canned") == published_before + 1  # once, by one replica
    assert a.routing.route("default", "bot-canned") == ("bot-canned", None)  # republish changes no route


async def test_a_failing_dependency_alerts_without_rerouting_until_the_bot_fails_too(
    replicas: tuple[Replica, Replica, Clock], sim: SimServer, chats: ChatWebhooks
) -> None:
    a, b, clock = replicas
    await deploy(a, "echo2", "bot-echo", Recovery.CIRCUIT_BREAK)
    a.prober._dependencies = lambda bot: {"reply_url": _failing}  # type: ignore[method-assign]
    b.prober._dependencies = lambda bot: {"reply_url": _failing}  # type: ignore[method-assign]
    await probe_rounds(a, b, clock, THRESHOLD)
    incident = await a.prober._incidents.open_for("echo2")
    assert incident is not None
    assert incident.action == "alert_only"
    assert "reply_url" in incident.reason
    assert a.routing.route("default", "bot-echo") == ("bot-echo", None)
    assert len(chats.received["slack"]) == 1

    sim.add_fault(kind="http_error", status=500, code=5000, bot_id="bot-echo")
    await probe_rounds(a, b, clock, THRESHOLD)  # now the bot fails as well: the incident escalates
    escalated = await a.prober._incidents.open_for("echo2")
    assert escalated is not None
    assert escalated.id == incident.id
    assert escalated.action == "circuit_break"
    assert a.routing.route("default", "bot-echo") == ("bot-echo", "We will be right back.")
    assert len(chats.received["slack"]) == 2
    assert "canary too" in chats.received["slack"][1]["text"]

    sim.clear_faults()  # the bot answers again while the reply URL is still down: users get the bot back
    await probe_rounds(a, b, clock, 1)
    assert a.routing.route("default", "bot-echo") == ("bot-echo", None)
    closed = next(i for i in await a.prober._incidents.recent(bot="echo2") if i.id == incident.id)
    assert closed.state == "closed"
    # the reply URL is still down: the next probe opens a new, alert-only incident (no route)
    await probe_rounds(a, b, clock, 1)
    [newest, *_] = await a.prober._incidents.recent(bot="echo2")
    assert newest.id != incident.id
    assert newest.action == "alert_only"
    assert newest.route is None


async def test_an_incident_whose_opener_died_is_recovered_by_another_replica(
    replicas: tuple[Replica, Replica, Clock], sim: SimServer
) -> None:
    a, b, clock = replicas
    await deploy(a, "orphan", "bot-echo", Recovery.CIRCUIT_BREAK)
    # replica a opened the incident and died before it recovered anything
    opened = await a.prober._incidents.open("orphan", "default", "canary: 5000", "circuit_break", clock.now, clock.now)
    assert opened is not None
    sim.add_fault(kind="http_error", status=500, code=5000, bot_id="bot-echo")
    for _ in range(THRESHOLD):
        clock.now += INTERVAL
        await b.prober.round()
    taken_over = await b.prober._incidents.open_for("orphan")
    assert taken_over is not None
    assert taken_over.state == "recovering"
    assert b.routing.route("default", "bot-echo") == ("bot-echo", "We will be right back.")


async def test_routes_are_per_tenant_and_end_with_the_bot(
    replicas: tuple[Replica, Replica, Clock], sim: SimServer
) -> None:
    a, b, clock = replicas
    await deploy(a, "mine", "bot-echo", Recovery.CIRCUIT_BREAK)
    sim.add_fault(kind="http_error", status=500, code=5000, bot_id="bot-echo")
    await probe_rounds(a, b, clock, THRESHOLD)
    assert a.routing.route("default", "bot-echo")[1] is not None
    assert a.routing.route("other-tenant", "bot-echo") == ("bot-echo", None)  # same Coze bot, not its incident

    await a.manager.terminate("mine", actor="t")
    await a.manager.settled("mine")
    await probe_rounds(a, b, clock, 1)
    assert await a.prober._incidents.open_for("mine") is None  # a stopped bot's incident is closed
    assert a.routing.route("default", "bot-echo") == ("bot-echo", None)


async def _failing() -> None:
    raise ConnectionError("connection refused")


def _publishes(sim: SimServer, bot_id: str) -> int:
    log = sim.admin.get("/sim/requests", params={"endpoint": "bots.publish"}).json()["requests"]
    return sum(1 for r in log if bot_id in str(r))
