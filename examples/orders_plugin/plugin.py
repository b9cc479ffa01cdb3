"""The ``orders`` plugin: two typed tools over the shop's SQLite order database.

Sync functions on purpose: cozegate runs them in the plugin's thread pool under a 2.5 s budget.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from contextlib import closing
from enum import StrEnum
from typing import Annotated

from examples.orders_plugin.store import connect
from pydantic import BaseModel, Field

from cozegate.plugins import Plugin, ServiceToken, ToolError

plugin = Plugin(
    "orders",
    title="Shop orders",
    description="Look up the shop's customer orders: status, items, total and expected delivery date.",
    auth=ServiceToken(env="ORDERS_PLUGIN_TOKEN", header="X-Api-Key"),
    deadline_seconds=2.5,
)


class OrderStatus(StrEnum):
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class OrderItem(BaseModel):
    sku: str = Field(description="Stock keeping unit")
    name: str = Field(description="Product name as the customer saw it")
    quantity: int = Field(description="How many were ordered")


class Order(BaseModel):
    order_id: str = Field(description="Order number")
    status: OrderStatus = Field(description="Where the order is now")
    placed_on: dt.date = Field(description="Day the order was placed")
    expected_delivery: dt.date | None = Field(description="Expected delivery day; null when cancelled")
    total: str = Field(description="Total with currency, e.g. 59.98 EUR")
    items: list[OrderItem] = Field(description="What was ordered")


class OrderList(BaseModel):
    orders: list[Order] = Field(description="The customer's orders, newest first")


OrderNumber = Annotated[
    str,
    Field(
        min_length=1, max_length=32, description="The order number the customer gives, like A-1001", examples=["A-1001"]
    ),
]


@plugin.tool
def lookup_order(order_id: OrderNumber) -> Order:
    """Find one order by its number.

    Use it when a customer asks where their order is, what they ordered or when it arrives.
    """
    with closing(connect()) as conn:
        row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id.strip().upper(),)).fetchone()
        if row is None:
            raise ToolError(
                f"there is no order {order_id.strip()!r}; ask the customer to check the number",
                code="order_not_found",
            )
        return _order(conn, row)


@plugin.tool
def list_orders(
    customer_email: Annotated[
        str,
        Field(min_length=3, max_length=254, description="The customer's e-mail address", examples=["mei@example.com"]),
    ],
    limit: Annotated[int, Field(ge=1, le=20, description="At most this many orders, newest first")] = 5,
) -> OrderList:
    """List a customer's most recent orders by their e-mail address."""
    with closing(connect()) as conn:
        rows = conn.execute(
            "SELECT * FROM orders WHERE customer_email = ? ORDER BY placed_on DESC LIMIT ?",
            (customer_email.strip().lower(), limit),
        ).fetchall()
        return OrderList(orders=[_order(conn, row) for row in rows])


def _order(conn: sqlite3.Connection, row: sqlite3.Row) -> Order:
    items = conn.execute("SELECT sku, name, quantity FROM order_items WHERE order_id = ?", (row["order_id"],))
    return Order(
        order_id=row["order_id"],
        status=OrderStatus(row["status"]),
        placed_on=dt.date.fromisoformat(row["placed_on"]),
        expected_delivery=dt.date.fromisoformat(row["expected_delivery"]) if row["expected_delivery"] else None,
        total=f"{row['total_cents'] / 100:.2f} {row['currency']}",
        items=[OrderItem(sku=i["sku"], name=i["name"], quantity=i["quantity"]) for i in items],
    )
