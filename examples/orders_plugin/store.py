"""The shop's order database: SQLite, created with a few sample orders on first use."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    customer_email TEXT NOT NULL,
    status TEXT NOT NULL,
    placed_on TEXT NOT NULL,
    expected_delivery TEXT,
    total_cents INTEGER NOT NULL,
    currency TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_items (
    order_id TEXT NOT NULL REFERENCES orders(order_id),
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    quantity INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_orders_customer ON orders(customer_email, placed_on);
"""

SAMPLE_ORDERS = [
    ("A-1001", "mei@example.com", "shipped", "2026-11-20", "2026-11-27", 5998, "EUR"),
    ("A-1002", "mei@example.com", "delivered", "2026-10-02", "2026-10-06", 1299, "EUR"),
    ("A-1003", "omar@example.com", "paid", "2026-11-24", "2026-12-01", 24900, "EUR"),
    ("A-1004", "omar@example.com", "cancelled", "2026-09-14", None, 899, "EUR"),
]
SAMPLE_ITEMS = [
    ("A-1001", "TEA-200", "Oolong tea, 200 g", 2),
    ("A-1001", "CUP-01", "Porcelain cup", 1),
    ("A-1002", "TEA-100", "Green tea, 100 g", 1),
    ("A-1003", "KET-09", "Cast-iron kettle", 1),
    ("A-1004", "TEA-050", "Jasmine tea sampler", 1),
]

_lock = threading.Lock()
_ready: set[Path] = set()


def database_path() -> Path:
    return Path(os.environ.get("ORDERS_DB", ".cozegate/example-orders.db"))


def connect() -> sqlite3.Connection:
    """A connection to the order database (created and filled with sample orders the first time)."""
    path = database_path()
    with _lock:
        if path not in _ready:
            path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(path) as conn:
                conn.executescript(SCHEMA)
                if conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0:
                    conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)", SAMPLE_ORDERS)
                    conn.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?)", SAMPLE_ITEMS)
            _ready.add(path)
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    return conn
