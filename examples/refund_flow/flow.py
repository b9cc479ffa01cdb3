"""The refund dialog as a state machine: ask for the order, check it may be refunded, confirm."""

from __future__ import annotations

from contextlib import closing
from typing import Any

from examples.orders_plugin.store import connect

from cozegate.conversations.context import DialogFlow, State, Transition

REFUNDABLE = ("shipped", "delivered")


def refundable(data: dict[str, Any], order_id: str) -> bool:
    """Guard: the order exists and has been shipped or delivered."""
    with closing(connect()) as conn:
        row = conn.execute("SELECT status FROM orders WHERE order_id = ?", (order_id.upper(),)).fetchone()
    return row is not None and row["status"] in REFUNDABLE


class RefundFlow(DialogFlow):
    idle = State(initial=True)
    awaiting_order = State(timeout_seconds=600)  # a customer who wanders off starts over
    confirming = State(timeout_seconds=300)
    refunded = State(final=True)

    start = Transition(idle, awaiting_order)
    give_order = Transition(awaiting_order, confirming, guard=refundable)
    confirm = Transition(confirming, refunded)
    cancel = Transition([awaiting_order, confirming], idle)

    def on_enter_confirming(self, data: dict[str, Any], order_id: str) -> None:
        data["order_id"] = order_id.upper()

    def on_enter_idle(self, data: dict[str, Any]) -> None:
        data.clear()
