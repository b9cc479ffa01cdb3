"""Hypothesis drives the store with reads, current and stale writes, creations and deletes against a
model dictionary: a stale write always conflicts and changes nothing; reads always match the model."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from cozegate.conversations.context import ContextConflictError, ContextStore, MemoryContextCache, Versioned
from cozegate.settings import Settings
from cozegate.storage import Database, create_engine, upgrade_to_head

KEYS = st.sampled_from(["a", "b", "c"])
VALUES = st.dictionaries(st.sampled_from(["x", "y"]), st.integers(-5, 5), max_size=2)


@pytest.fixture
def database_settings(tmp_path: Path) -> Settings:
    config = Settings(state_dir=tmp_path)

    async def migrate() -> None:
        engine = create_engine(config)
        await upgrade_to_head(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return config


def test_store_matches_its_model(database_settings: Settings) -> None:
    class StoreMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.db = Database(create_engine(database_settings))
            self.store = ContextStore(self.db, MemoryContextCache(3600))
            self.tenant = uuid.uuid4().hex  # each example gets records of its own
            self.model: dict[str, Versioned] = {}

        def run(self, coroutine: Any) -> Any:
            return self.loop.run_until_complete(coroutine)

        def current(self, key: str) -> Versioned:
            return self.model.get(key, Versioned())

        @rule(key=KEYS)
        def read(self, key: str) -> None:
            assert self.run(self.store.get(self.tenant, "conversation", key)) == self.current(key)

        @rule(key=KEYS, value=VALUES)
        def write(self, key: str, value: dict[str, int]) -> None:
            version = self.current(key).version
            written = self.run(self.store.put(self.tenant, "conversation", key, value, expected_version=version))
            assert written == Versioned(value, version + 1)
            self.model[key] = written

        @precondition(lambda self: any(v.version > 0 for v in self.model.values()))
        @rule(data=st.data(), value=VALUES)
        def stale_write(self, data: st.DataObject, value: dict[str, int]) -> None:
            key = data.draw(st.sampled_from(sorted(k for k, v in self.model.items() if v.version > 0)))
            stale = data.draw(st.integers(0, self.model[key].version - 1))
            with pytest.raises(ContextConflictError):
                self.run(self.store.put(self.tenant, "conversation", key, value, expected_version=stale))

        @rule(key=KEYS)
        def delete(self, key: str) -> None:
            self.run(self.store.delete(self.tenant, "conversation", key))
            self.model.pop(key, None)

        @invariant()
        def every_key_matches(self) -> None:
            for key in ("a", "b", "c"):
                assert self.run(self.store.get(self.tenant, "conversation", key)) == self.current(key)

        def teardown(self) -> None:
            self.run(self.db.close())
            self.loop.close()

    run_state_machine_as_test(StoreMachine, settings=settings(max_examples=40, stateful_step_count=25, deadline=None))
