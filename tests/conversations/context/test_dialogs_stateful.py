"""Hypothesis fires random events at a flow and compares it with a table-driven model of the same flow."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from cozegate.conversations.context import ContextStore, GuardRejectedError, InvalidTransitionError, MemoryContextCache
from cozegate.settings import Settings
from cozegate.storage import Database, create_engine
from tests.conversations.context.test_dialogs import Checkout
from tests.conversations.context.test_store_stateful import database_settings  # noqa: F401 - the fixture

# (state, event) -> next state, as the Checkout class declares it; settle's guard allows amount <= 100
MODEL = {
    ("browsing", "pay"): "paying",
    ("paying", "review"): "waiting_review",
    ("paying", "settle"): "paid",
    ("waiting_review", "settle"): "paid",
    ("paying", "back"): "browsing",
    ("waiting_review", "back"): "browsing",
}


def test_flow_matches_its_table(database_settings: Settings) -> None:  # noqa: F811
    class FlowMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.db = Database(create_engine(database_settings))
            self.flow = Checkout(ContextStore(self.db, MemoryContextCache(3600)), uuid.uuid4().hex, "c")
            self.state = "browsing"

        def run(self, coroutine: Any) -> Any:
            return self.loop.run_until_complete(coroutine)

        @rule(event=st.sampled_from(["pay", "review", "settle", "back"]), amount=st.integers(0, 200))
        def fire(self, event: str, amount: int) -> None:
            expected = MODEL.get((self.state, event))
            if expected is None:
                with pytest.raises(InvalidTransitionError):
                    self.run(self.flow.fire(event, amount=amount))
            elif event == "settle" and amount > 100:
                with pytest.raises(GuardRejectedError):
                    self.run(self.flow.fire(event, amount=amount))
            else:
                step = self.run(self.flow.fire(event, amount=amount))
                assert (step.source, step.target) == (self.state, expected)
                self.state = expected

        @invariant()
        def persisted_state_matches(self) -> None:
            assert self.run(self.flow.state()) == self.state

        def teardown(self) -> None:
            self.run(self.db.close())
            self.loop.close()

    run_state_machine_as_test(FlowMachine, settings=settings(max_examples=40, stateful_step_count=20, deadline=None))
