"""A handler whose annotations mix a type its module imports only for type checkers with one it can see."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.inbox.test_handlers import Kit

if TYPE_CHECKING:
    from decimal import Decimal


async def handler(event: object, kit: Kit, amount: Decimal | None = None) -> None:
    return None
