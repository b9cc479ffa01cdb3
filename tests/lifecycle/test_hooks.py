"""Library users' hooks: called on entering and leaving states, after the move is stored; a failing
hook is logged and changes nothing."""

from __future__ import annotations

from cozegate.lifecycle import BotState, BotStore, LifecycleHooks, LifecycleManager, Release, Transition
from cozegate.storage import Database
from tests.lifecycle.actuators import ScriptedActuator


async def test_enter_and_exit_hooks_see_each_stored_move(db: Database) -> None:
    hooks = LifecycleHooks()
    seen: list[str] = []
    stored_states: list[str] = []
    manager = LifecycleManager(BotStore(db), ScriptedActuator(), hooks=hooks)

    @hooks.on_enter(BotState.RUNNING)
    async def running(t: Transition) -> None:
        seen.append(f"enter running via {t.trigger} v={t.version}")
        bot = await manager.store.get(t.bot)
        assert bot is not None
        stored_states.append(bot.state)

    hooks.on_exit(BotState.PENDING, lambda t: seen.append(f"exit pending by {t.actor}"))

    def broken(t: Transition) -> None:
        raise RuntimeError("a user's hook fails")

    hooks.on_enter(BotState.DEPLOYING, broken)

    await manager.register("hooked", "default", actor="tester")
    await manager.deploy("hooked", Release("v1", "coze-x"), actor="tester")
    bot = await manager.settled("hooked")
    await manager.close()
    assert bot.state == BotState.RUNNING
    assert seen == ["exit pending by tester", "enter running via deployed v=v1"]
    assert stored_states == ["running"]  # hooks run after the move is stored
