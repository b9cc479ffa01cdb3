"""The audit log's hash chain: an untouched log verifies; every kind of tampering is found and located."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest
from alembic import command
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, select, text

from cozegate.compliance import AuditLog, verify_chain
from cozegate.compliance.audit_chain import GENESIS, record_hash
from cozegate.storage import Database, create_engine
from cozegate.storage.migrate import _config
from cozegate.storage.schema import audit_log
from tests.conftest import Backend
from tests.support.server import REPO


async def seed(log: AuditLog, count: int) -> None:
    for i in range(count):
        await log.record(actor=f"admin-{i % 3}", action="dlq.replay", tenant="t1", target=str(i), request_id=f"r{i}")


async def tamper(db: Database, sql: str, **params: Any) -> None:
    await db.write(lambda conn: conn.execute(text(sql), params))


async def test_an_untouched_log_is_intact(db: Database) -> None:
    log = AuditLog(db)
    await seed(log, 12)
    report = await log.verify()
    assert report.intact, report.problems
    assert report.records == 12
    assert report.head_seq == 12


async def test_concurrent_appends_form_one_chain(db: Database) -> None:
    log = AuditLog(db)
    await asyncio.gather(*(log.record(actor="a", action="x", target=str(i)) for i in range(60)))
    report = await log.verify()
    assert report.intact, report.problems
    seqs = await db.read(lambda conn: sorted(r.seq for r in conn.execute(select(audit_log.c.seq))))
    assert seqs == list(range(1, 61))


@pytest.mark.parametrize(
    ("sql", "kind", "seq"),
    [
        ("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 5", "edited", 5),
        ("UPDATE audit_log SET details = '{\"forged\": true}' WHERE seq = 1", "edited", 1),
        ("DELETE FROM audit_log WHERE seq = 7", "missing", 8),
        ("swap seq 3 and 4", "broken_link", 3),
        ("UPDATE audit_log SET hash = NULL WHERE seq = 9", "unsealed", 9),
        (
            "INSERT INTO audit_log (at, actor, action, details, seq, prev_hash, hash)"
            " VALUES (1.0, 'forger', 'x', '{}', 0, 'p', 'h')",
            "unsealed",
            0,
        ),
    ],
    ids=["edit-actor", "edit-details", "delete", "reorder", "unseal", "forged-seq-0"],
)
async def test_tampering_is_found_where_it_happened(db: Database, sql: str, kind: str, seq: int | None) -> None:
    log = AuditLog(db)
    await seed(log, 10)
    if sql.startswith("swap"):  # through a free value: seq is unique at every step
        await tamper(db, "UPDATE audit_log SET seq = -1 WHERE seq = 3")
        await tamper(db, "UPDATE audit_log SET seq = 3 WHERE seq = 4")
        await tamper(db, "UPDATE audit_log SET seq = 4 WHERE seq = -1")
    else:
        await tamper(db, sql)
    report = await log.verify()
    assert not report.intact
    assert (report.problems[0].kind, report.problems[0].seq) == (kind, seq), report.problems


async def test_a_recomputed_hash_still_breaks_the_next_link(db: Database) -> None:
    """The forger edits record 4 and gives it a correct new hash; record 5 no longer follows it."""
    log = AuditLog(db)
    await seed(log, 6)

    def forge(conn: Connection) -> None:
        row = conn.execute(select(audit_log).where(audit_log.c.seq == 4)).mappings().one()
        forged = {**row, "actor": "forger"}
        conn.execute(
            audit_log.update()
            .where(audit_log.c.seq == 4)
            .values(actor="forger", hash=record_hash(row["prev_hash"], forged))
        )

    await db.write(forge)
    problems = (await log.verify()).problems
    assert [(p.kind, p.seq) for p in problems] == [("broken_link", 5)]


def cozegate(backend: Backend, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **backend.settings_env(), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "cozegate", *args], env=env, capture_output=True, text=True)


async def test_cli_verify_exits_1_naming_the_record_and_checks_a_kept_head(backend: Backend, db: Database) -> None:
    log = AuditLog(db)
    await seed(log, 5)
    done = await asyncio.to_thread(cozegate, backend, "audit", "verify")
    assert done.returncode == 0, done.stderr
    head = done.stdout.split("head ")[1].split(";")[0].split()[0]
    assert head.startswith("5:")
    assert (await asyncio.to_thread(cozegate, backend, "audit", "verify", "--expect-head", head)).returncode == 0

    await tamper(db, "DELETE FROM audit_log WHERE seq = 5")  # cut off the end: a valid, shorter chain
    assert (await asyncio.to_thread(cozegate, backend, "audit", "verify")).returncode == 0
    cut = await asyncio.to_thread(cozegate, backend, "audit", "verify", "--expect-head", head)
    assert cut.returncode == 1
    assert "truncated" in cut.stdout

    # a rewritten log that has grown since the head was kept: the record at the kept seq is another one
    def rewrite(conn: Connection) -> None:
        prev = GENESIS
        for row in conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings().all():
            forged = {**row, "actor": "forger"}
            digest = record_hash(prev, forged)
            conn.execute(
                audit_log.update()
                .where(audit_log.c.id == row["id"])
                .values(actor="forger", prev_hash=prev, hash=digest)
            )
            prev = digest

    await db.write(rewrite)
    await log.record(actor="later", action="y")
    await log.record(actor="later", action="y")  # seq 5 exists again, with another hash
    rewritten = await asyncio.to_thread(cozegate, backend, "audit", "verify", "--expect-head", head)
    assert rewritten.returncode == 1
    assert "rewritten: record seq 5" in rewritten.stdout

    await tamper(db, "UPDATE audit_log SET target = 'x' WHERE seq = 2")
    edited = await asyncio.to_thread(cozegate, backend, "audit", "verify")
    assert edited.returncode == 1
    assert "record seq 2 (id" in edited.stdout
    assert "changed after it was written" in edited.stdout


async def test_records_written_before_the_chain_are_sealed_by_the_migration(backend: Backend) -> None:
    engine = create_engine(backend.settings())

    def upgrade(target: str) -> Any:
        def run(conn: Connection) -> None:
            command.upgrade(_config(conn), target)

        return run

    async with engine.begin() as conn:
        await conn.run_sync(upgrade("0002"))
        for i in range(3):
            await conn.execute(
                text("INSERT INTO audit_log (at, actor, action, details) VALUES (:at, 'old', 'x', '{}')"),
                {"at": 1700000000.5 + i},
            )
    async with engine.begin() as conn:
        await conn.run_sync(upgrade("head"))
    db = Database(engine)
    try:
        log = AuditLog(db)
        await log.record(actor="new", action="y")
        report = await log.verify()
        assert report.intact, report.problems
        assert report.records == 4
    finally:
        await db.close()


def chain(count: int) -> list[dict[str, Any]]:
    records, prev = [], GENESIS
    for i in range(count):
        record = {"id": i + 1, "seq": i + 1, "at": 1.5 + i, "actor": f"a{i}", "action": "x", "tenant": None,
                  "target": None, "request_id": None, "details": "{}", "prev_hash": prev}  # fmt: skip
        record["hash"] = prev = record_hash(prev, record)
        records.append(record)
    return records


@given(
    count=st.integers(min_value=2, max_value=30),
    operation=st.sampled_from(["edit", "delete", "swap", "drop_first"]),
    data=st.data(),
)
def test_any_single_tampering_is_detected(count: int, operation: str, data: st.DataObject) -> None:
    records = chain(count)
    assert verify_chain(records).intact
    i = data.draw(st.integers(min_value=0, max_value=count - 2))
    if operation == "edit":
        field = data.draw(st.sampled_from(["actor", "action", "details", "at", "tenant"]))
        records[i] = {**records[i], field: 99.5 if field == "at" else "changed"}
    elif operation == "delete":
        del records[i]
    elif operation == "swap":
        records[i], records[i + 1] = records[i + 1], records[i]
    else:
        del records[0]
    assert not verify_chain(records).intact


async def test_personal_data_is_masked_in_audit_records(db: Database) -> None:
    log = AuditLog(db)
    await log.record(
        actor="admin", action="privacy.export", target="user 13812345678", details={"email": "mei@example.com"}
    )
    [record] = await log.recent(1)
    assert record["target"] == "user 138****5678"
    assert "mei@example.com" not in record["details"]
    assert (await log.verify()).intact  # masked before sealing
