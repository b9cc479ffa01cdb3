"""Two lifecycle managers on one database, as two replicas: the moves they race for are decided once,
a late side effect is compensated, and terminate takes every Coze bot the bot published off its
channels. Real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from cozegate.lifecycle import BotState, BotStore, LifecycleManager, Recovery, Release, Trigger
from cozegate.storage import Database
from tests.lifecycle.actuators import ScriptedActuator


class Clock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


async def wait_until(check) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(30):
        while not await check():
            await asyncio.sleep(0.01)


async def test_an_unrelated_change_during_a_deploy_does_not_lose_its_outcome(db: Database) -> None:
    actuator = ScriptedActuator(gate=asyncio.Event())
    manager = LifecycleManager(BotStore(db), actuator)
    await manager.register("b1", "default", actor="t")
    await manager.deploy("b1", Release("v1", "coze-a"), actor="t")
    await wait_until(lambda: _is_live(actuator, "coze-a"))
    await manager.register("b1", "default", recovery=Recovery.REPUBLISH, actor="t")  # bumps the revision
    assert actuator.gate is not None
    actuator.gate.set()
    async with asyncio.timeout(30):
        bot = await manager.settled("b1")
    assert bot.state == BotState.RUNNING
    assert bot.recovery == Recovery.REPUBLISH
    await manager.close()


async def test_a_rollback_by_another_replica_wins_and_a_late_publish_is_withdrawn(db: Database) -> None:
    clock = Clock()
    actuator = ScriptedActuator(gate=asyncio.Event())
    a = LifecycleManager(BotStore(db), actuator, clock=clock)
    b = LifecycleManager(BotStore(db), actuator, clock=clock)
    await a.register("b2", "default", actor="t")
    await a.deploy("b2", Release("v1", "coze-b"), actor="t")
    await wait_until(lambda: _is_live(actuator, "coze-b"))  # a's publish reached Coze; its answer is late

    clock.now += 91  # past the deploy deadline: replica b rolls it back
    [rolled] = await b.tick()
    assert rolled.state == BotState.FAILED
    assert "coze-b" not in actuator.live  # the winner of the move cleaned up

    assert actuator.gate is not None
    actuator.gate.set()  # now a's publish answers, after its deploy had ended
    await wait_until(lambda: _no_drives(a))
    assert "coze-b" not in actuator.live, "the late publish was taken off the channel again"
    bot = await a.store.get("b2")
    assert bot is not None
    assert bot.state == BotState.FAILED
    triggers = [t.trigger for t in await a.store.history("b2")]
    assert triggers == [Trigger.DEPLOY, Trigger.TIMED_OUT]  # one rollback, no late "deployed"
    await a.close()
    await b.close()


async def test_the_same_deploy_from_two_replicas_at_once_is_one_deploy(db: Database) -> None:
    actuator = ScriptedActuator()
    a = LifecycleManager(BotStore(db), actuator)
    b = LifecycleManager(BotStore(db), actuator)
    await a.register("b3", "default", actor="t")
    release = Release("v1", "coze-c")
    first, second = await asyncio.gather(
        a.deploy("b3", release, actor="t"), b.deploy("b3", release, actor="t"), return_exceptions=True
    )
    assert not isinstance(first, BaseException), first
    assert not isinstance(second, BaseException), second
    async with asyncio.timeout(30):
        await a.settled("b3")
    deploys = [t for t in await a.store.history("b3") if t.trigger == Trigger.DEPLOY]
    assert len(deploys) == 1
    await a.close()
    await b.close()


async def test_terminate_withdraws_every_coze_bot_the_bot_published(db: Database) -> None:
    actuator = ScriptedActuator()
    manager = LifecycleManager(BotStore(db), actuator)
    await manager.register("b4", "default", actor="t")
    await manager.deploy("b4", Release("v1", "coze-v1"), actor="t")
    await manager.settled("b4")
    await manager.deploy("b4", Release("v2", "coze-v2"), actor="t")
    bot = await manager.settled("b4")
    assert [r.coze_bot_id for r in bot.published] == ["coze-v1", "coze-v2"]  # v1 stays live for a rollback
    await manager.terminate("b4", actor="t")
    bot = await manager.settled("b4")
    assert bot.state == BotState.TERMINATED
    assert actuator.live == {}
    assert bot.published == ()
    await manager.close()


async def _is_live(actuator: ScriptedActuator, coze_bot: str) -> bool:
    return coze_bot in actuator.live


async def _no_drives(manager: LifecycleManager) -> bool:
    return all(t.done() for t in manager.drives().values())


async def test_a_deploy_left_by_a_stopped_replica_is_carried_on_by_another(db: Database) -> None:
    clock = Clock()
    stuck = ScriptedActuator(gate=asyncio.Event())
    working = ScriptedActuator()
    a = LifecycleManager(BotStore(db), stuck, clock=clock, heartbeat_seconds=0.02)
    b = LifecycleManager(BotStore(db), working, clock=clock, heartbeat_seconds=0.02)
    await a.register("b5", "default", actor="t")
    await a.deploy("b5", Release("v1", "coze-e"), actor="t")

    clock.now += 20  # a is alive and beating: b leaves its deploy alone
    await asyncio.sleep(0.2)
    assert await b.tick() == []
    assert b.drives() == {}

    await a.close()  # a stops without a word (its side effect dies with it)
    clock.now += 20
    assert await b.tick() == []  # not past the deadline: b carries the deploy on instead of rolling it back
    async with asyncio.timeout(30):
        bot = await b.settled("b5")
    assert bot.state == BotState.RUNNING
    assert "coze-e" in working.live
    assert [t.trigger for t in await b.store.history("b5")] == [Trigger.DEPLOY, Trigger.DEPLOYED]
    await b.close()
