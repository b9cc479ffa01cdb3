"""Dialog state machines: definitions checked, transitions guarded and persisted, timeouts, concurrency,
a Hypothesis model of a flow, and the refund example end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cozegate.conversations.context import (
    ContextStore,
    DialogDefinitionError,
    DialogFlow,
    GuardRejectedError,
    InvalidTransitionError,
    State,
    Transition,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def small_enough(data: dict[str, Any], amount: int) -> bool:
    return amount <= 100


class Checkout(DialogFlow):
    browsing = State(initial=True)
    paying = State(timeout_seconds=60)
    waiting_review = State(timeout_seconds=30, on_timeout=paying)
    paid = State(final=True)

    pay = Transition(browsing, paying)
    review = Transition(paying, waiting_review)
    settle = Transition([paying, waiting_review], paid, guard=small_enough)
    back = Transition([paying, waiting_review], browsing)

    def on_enter_paying(self, data: dict[str, Any]) -> None:
        data["attempts"] = data.get("attempts", 0) + 1

    async def on_enter_paid(self, data: dict[str, Any], amount: int) -> None:
        data["amount"] = amount


async def test_events_move_the_persisted_state_and_hooks_change_its_data(store: ContextStore) -> None:
    flow = Checkout(store, "t", "c1", subject="u1")
    assert await flow.state() == "browsing"
    step = await flow.fire("pay")
    assert (step.source, step.target, step.data) == ("browsing", "paying", {"attempts": 1})
    again = Checkout(store, "t", "c1")  # another handler, later: the state came from the store
    assert await again.state() == "paying"
    final = await again.fire("settle", amount=40)
    assert final.data == {"attempts": 1, "amount": 40}
    assert await flow.allowed() == []
    assert (await store.conversation("t", "c1")).data["dialogs"]["Checkout"]["state"] == "paid"


async def test_an_event_the_state_does_not_allow_is_refused_and_changes_nothing(store: ContextStore) -> None:
    flow = Checkout(store, "t", "c2")
    with pytest.raises(InvalidTransitionError, match=r"cannot 'settle' from 'browsing'.*\['pay'\]"):
        await flow.fire("settle", amount=1)
    with pytest.raises(InvalidTransitionError, match="has no event 'fly'"):
        await flow.fire("fly")
    assert await flow.state() == "browsing"
    assert (await store.conversation("t", "c2")).version == 0


async def test_a_guard_can_refuse(store: ContextStore) -> None:
    flow = Checkout(store, "t", "c3")
    await flow.fire("pay")
    with pytest.raises(GuardRejectedError):
        await flow.fire("settle", amount=500)
    assert await flow.state() == "paying"


async def test_a_state_left_waiting_falls_back_after_its_timeout(store: ContextStore) -> None:
    clock = Clock()
    flow = Checkout(store, "t", "c4", clock=clock)
    await flow.fire("pay")
    await flow.fire("review")
    clock.now += 31
    assert await flow.state() == "paying"  # waiting_review's on_timeout
    clock.now += 61
    assert await flow.state() == "browsing"  # then paying's own timeout: the initial state
    step = await flow.fire("pay")
    assert step.timed_out
    assert step.source == "browsing"
    assert step.data == {"attempts": 1}  # a fall back to the initial state starts with fresh data


async def test_concurrent_events_on_one_conversation_apply_one_after_the_other(store: ContextStore) -> None:
    results = await asyncio.gather(
        Checkout(store, "t", "c5").fire("pay"), Checkout(store, "t", "c5").fire("pay"), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["InvalidTransitionError", "Step"]


def test_definitions_are_checked_when_the_class_is_made() -> None:
    with pytest.raises(DialogDefinitionError, match="exactly one"):

        class NoStart(DialogFlow):
            a = State()

    class Other(DialogFlow):
        x = State(initial=True)

    with pytest.raises(DialogDefinitionError, match="another flow"):

        class Foreign(DialogFlow):
            a = State(initial=True)
            go = Transition(a, Other.x)

    with pytest.raises(DialogDefinitionError, match="final"):

        class LeavesFinal(DialogFlow):
            a = State(initial=True)
            b = State(final=True)
            back = Transition(b, a)


async def test_the_refund_desk_example(store: ContextStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_DB", str(tmp_path / "orders.db"))
    from examples.refund_flow import RefundDesk

    desk = RefundDesk(store, "shop")
    say = lambda text: desk.answer("chat-1", "mei", text)  # noqa: E731
    assert "Which order" in await say("I want a refund")
    assert "cannot be refunded" in await say("A-1003")  # paid, not shipped yet
    assert await say("A-1001") == "Refund order A-1001? Answer yes or cancel."
    assert await say("yes") == "Done: the refund for A-1001 is on its way."
    assert "Which order" in await say("another refund please")
    assert await say("cancel") == "Refund cancelled. Anything else?"
    assert [r["key"] for r in await store.about("shop", "mei")] == ["chat-1"]
