from __future__ import annotations

import pytest

from cozegate.inbox import InboxStore
from cozegate.storage import Database


@pytest.fixture
def store(db: Database) -> InboxStore:
    return InboxStore(db)
