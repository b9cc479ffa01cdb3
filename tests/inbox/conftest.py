from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cozegate.inbox import InboxStore
from cozegate.storage import Database, create_engine, upgrade_to_head
from tests.conftest import Backend


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[Database]:
    database = Database(create_engine(backend.settings()))
    await upgrade_to_head(database.engine)
    yield database
    await database.close()


@pytest.fixture
def store(db: Database) -> InboxStore:
    return InboxStore(db)
