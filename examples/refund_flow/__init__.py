"""Example: an order-refund dialog, a DialogFlow driven by chat text (see ``flow.py`` and ``desk.py``)."""

from examples.refund_flow.desk import RefundDesk
from examples.refund_flow.flow import RefundFlow

__all__ = ["RefundDesk", "RefundFlow"]
