"""Hypothesis stateful test of the lifecycle on a real SQLite database: commands, side effects that
succeed, fail or hang, deadlines passing on a controllable clock, and process restarts. After every
step: the stored state is the last move of the history, every move in the history is legal, nothing
sits in a transitional state past its deadline after a tick, and every rollback restored what ran
before."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import delete

from cozegate.lifecycle import (
    BotState,
    BotStore,
    IllegalTransitionError,
    LifecycleManager,
    Release,
    Timeouts,
    Trigger,
)
from cozegate.lifecycle.states import TRANSITIONAL
from cozegate.settings import Settings
from cozegate.storage import Database, create_engine, upgrade_to_head
from cozegate.storage.schema import bots
from tests.lifecycle.actuators import Mode, ScriptedActuator

VERSIONS = st.sampled_from([("v1", "coze-a"), ("v2", "coze-a"), ("v3", "coze-b")])
MODES: st.SearchStrategy[Mode] = st.sampled_from(["ok", "fail", "hang"])
_names = itertools.count()
HEARTBEAT = 0.05  # heartbeats happen during examples too

# The legal moves, written out from the diagram (independently of the code's table).
P, D, R, S, T, X, F = "pending", "deploying", "running", "scaling", "terminating", "terminated", "failed"
LEGAL = {
    (P, "deploy", D), (R, "deploy", D), (F, "deploy", D),
    (D, "deployed", R), (D, "deploy_failed", R), (D, "deploy_failed", F), (D, "timed_out", R), (D, "timed_out", F),
    (R, "scale", S), (S, "scaled", R), (S, "scale_failed", R), (S, "timed_out", R),
    (P, "terminate", T), (D, "terminate", T), (R, "terminate", T), (S, "terminate", T), (F, "terminate", T),
    (T, "terminated", X), (T, "terminate_failed", F), (T, "timed_out", F),
}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class LifecycleMachine(RuleBasedStateMachine):
    runner: asyncio.Runner
    db: Database

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.actuator = ScriptedActuator()
        self.timeouts = Timeouts(deploying=90, scaling=120, terminating=60)
        self.manager = self._new_manager()
        self.name = f"bot-{next(_names)}"
        self.run(self.manager.register(self.name, "default", actor="test"))

    def _new_manager(self) -> LifecycleManager:
        return LifecycleManager(
            BotStore(self.db),
            self.actuator,
            timeouts=self.timeouts,
            clock=self.clock,
            heartbeat_seconds=HEARTBEAT,
            exclusive=True,  # a restart is one process coming back (embedded)
        )

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.runner.run(coro)

    def settle(self) -> None:
        """Let every side effect finish, except those the script made hang."""

        async def wait() -> None:
            for _ in range(5000):
                running = [t for t in self.manager.drives().values() if not t.done()]
                if len(running) == self.actuator.hanging:
                    return
                await asyncio.sleep(0.002)
            raise AssertionError("side effects did not settle")

        self.run(wait())

    def bot(self):  # type: ignore[no-untyped-def]
        bot = self.run(self.manager.store.get(self.name))
        assert bot is not None
        return bot

    def command(self, coro) -> None:  # type: ignore[no-untyped-def]
        with contextlib.suppress(IllegalTransitionError):
            self.run(coro)
        self.settle()

    @rule(version=VERSIONS, mode=MODES)
    def deploy(self, version: tuple[str, str], mode: Mode) -> None:
        self.actuator.mode = mode
        before = self.bot()
        history = len(self.run(self.manager.store.history(self.name)))
        self.command(self.manager.deploy(self.name, Release(*version), actor="test"))
        live_same = (
            before.state in (BotState.DEPLOYING, BotState.RUNNING, BotState.SCALING)
            and (
                before.version,
                before.coze_bot_id,
            )
            == version
        )
        if live_same:  # idempotent: the same version again is no move at all
            assert len(self.run(self.manager.store.history(self.name))) == history

    @rule(replicas=st.integers(0, 4), mode=MODES)
    def scale(self, replicas: int, mode: Mode) -> None:
        self.actuator.mode = mode
        self.command(self.manager.scale(self.name, replicas, actor="test"))

    @rule(mode=MODES)
    def terminate(self, mode: Mode) -> None:
        self.actuator.mode = mode
        self.command(self.manager.terminate(self.name, actor="test"))

    @rule(seconds=st.sampled_from([1.0, 59.0, 61.0, 91.0, 121.0]))
    def time_passes(self, seconds: float) -> None:
        before = self.bot()
        self.clock.now += seconds
        self.run(self.manager.tick())
        self.settle()
        after = self.bot()
        if before.state in TRANSITIONAL and before.deadline_at is not None and before.deadline_at <= self.clock.now:
            assert after.state not in TRANSITIONAL or after.revision != before.revision
            if before.state == BotState.SCALING and after.state == BotState.RUNNING:
                assert before.previous is not None
                assert after.replicas == before.previous.replicas  # the previous replica count
            if before.state == BotState.DEPLOYING and before.previous is not None:
                assert after.release is not None
                assert (after.version, after.coze_bot_id) == (before.previous.version, before.previous.coze_bot_id)

    @rule(mode=MODES)
    def restart(self, mode: Mode) -> None:
        """The process dies (its side effects with it) and a new one resumes from the database."""
        self.run(self.manager.close())
        self.settle_cancelled()
        self.actuator.mode = mode
        self.manager = self._new_manager()
        self.run(self.manager.resume())
        self.settle()

    def settle_cancelled(self) -> None:
        async def wait() -> None:
            await asyncio.sleep(0)
            for _ in range(500):
                if self.actuator.hanging == 0:
                    return
                await asyncio.sleep(0.002)

        self.run(wait())

    @invariant()
    def history_is_legal_and_ends_in_the_state(self) -> None:
        bot = self.bot()
        history = self.run(self.manager.store.history(self.name))
        state = previous_state = BotState.PENDING
        for move in history:
            assert move.from_state == state, f"history has a gap: {move}"
            assert (move.from_state.value, move.trigger.value, move.to_state.value) in LEGAL, move
            if move.from_state == BotState.DEPLOYING and move.trigger in (Trigger.DEPLOY_FAILED, Trigger.TIMED_OUT):
                # back to running only when a previous release ran before this deploy
                assert (move.to_state == BotState.RUNNING) == (previous_state == BotState.RUNNING), move
            previous_state = state
            state = move.to_state
        assert bot.state == state
        assert (bot.deadline_at is not None) == (bot.state in TRANSITIONAL)
        assert BotState.TERMINATED not in [m.from_state for m in history], "terminated is final"

    @invariant()
    def no_orphan_publication(self) -> None:
        """A failed first deploy or a finished terminate leaves nothing of its bot published."""
        bot = self.bot()
        if bot.state == BotState.TERMINATED:
            assert not self.actuator.live, f"terminated, yet still published: {self.actuator.live}"
            assert bot.published == ()
        if bot.state == BotState.FAILED and bot.release is not None and bot.previous is None:
            history = self.run(self.manager.store.history(self.name))
            last = history[-1] if history else None
            if (
                last
                and last.from_state == BotState.DEPLOYING
                and last.trigger in (Trigger.DEPLOY_FAILED, Trigger.TIMED_OUT)
            ):
                assert bot.release.coze_bot_id not in self.actuator.live

    def teardown(self) -> None:
        self.run(self.manager.close())
        self.settle_cancelled()
        # examples share the database: a bot left in a transitional state must not be resumed by the
        # next example's manager (its side effects would land in that example's actuator)
        name = self.name
        self.run(self.db.write(lambda conn: conn.execute(delete(bots).where(bots.c.name == name))))


@pytest.mark.timeout(600)
def test_lifecycle_state_machine(tmp_path: Path) -> None:
    with asyncio.Runner() as runner:
        settings_ = Settings(state_dir=tmp_path / "state", admin_token="x")
        db = Database(create_engine(settings_))
        runner.run(upgrade_to_head(db.engine))
        LifecycleMachine.runner = runner
        LifecycleMachine.db = db
        try:
            run_state_machine_as_test(
                LifecycleMachine,
                settings=settings(
                    max_examples=40,
                    stateful_step_count=20,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
        finally:
            runner.run(db.close())
