"""A refund desk: reads a customer's messages, moves the RefundFlow and says what happens next."""

from __future__ import annotations

import re

from examples.refund_flow.flow import RefundFlow

from cozegate.conversations.context import ContextStore, GuardRejectedError

ORDER_NUMBER = re.compile(r"\b[A-Za-z]-\d{3,8}\b")
YES = {"yes", "y", "ok", "sure", "是", "好", "确认"}


class RefundDesk:
    def __init__(self, store: ContextStore, tenant: str) -> None:
        self._store = store
        self._tenant = tenant

    async def answer(self, conversation_id: str, user_id: str, text: str) -> str:
        flow = RefundFlow(self._store, self._tenant, conversation_id, subject=user_id)
        state = await flow.state()
        words = text.strip().lower()
        if "cancel" in words or "取消" in words:
            if "cancel" in await flow.allowed():
                await flow.fire("cancel")
                return "Refund cancelled. Anything else?"
            return "There is no refund in progress."
        if state in ("idle", "refunded"):
            if "refund" in words or "退款" in words:
                if state == "refunded":
                    await flow.reset()
                await flow.fire("start")
                return "Which order should be refunded? (the number looks like A-1001)"
            return "I can help with refunds: say 'refund'."
        if state == "awaiting_order":
            match = ORDER_NUMBER.search(text)
            if match is None:
                return "Please give the order number, like A-1001."
            try:
                await flow.fire("give_order", order_id=match.group())
            except GuardRejectedError:
                return f"Order {match.group().upper()} cannot be refunded (unknown, or not shipped yet)."
            return f"Refund order {match.group().upper()}? Answer yes or cancel."
        if state == "confirming":
            if words in YES:
                step = await flow.fire("confirm")
                return f"Done: the refund for {step.data['order_id']} is on its way."
            return "Answer yes to refund, or cancel."
        return "Sorry, I lost track; say 'refund' to start again."
