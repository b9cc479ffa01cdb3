"""``cozegate audit``: read the audit log and check that nobody edited, deleted or reordered it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from cozegate.cli.database import run_with_database
from cozegate.cli.display import command_group, console, table, when

if TYPE_CHECKING:
    from cozegate.compliance import ChainReport
    from cozegate.storage import Database

app = command_group("The audit log: who did what, hash-chained. List it or verify it.")


@app.command()
def verify(
    expect_head: Annotated[
        str | None,
        typer.Option(help="SEQ:HASH of a head printed earlier and kept elsewhere; catches records cut off the end."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Recompute the hash chain. Exit 0 when intact, 1 naming each edited, missing or reordered record."""
    kept: tuple[int, str] | None = None
    if expect_head is not None:
        seq_text, _, expected_hash = expect_head.partition(":")
        if not seq_text.isdigit() or len(expected_hash) != 64:
            typer.echo("cozegate: --expect-head takes SEQ:HASH as printed by `cozegate audit verify`", err=True)
            raise typer.Exit(2)
        kept = (int(seq_text), expected_hash)

    from cozegate.compliance import AuditLog

    async def check(db: Database) -> tuple[ChainReport, str | None]:
        log = AuditLog(db)
        return await log.verify(), await log.hash_at(kept[0]) if kept else None

    report, hash_at_kept = run_with_database(check)
    problems = [f"{p.kind}: {p.message}" for p in report.problems]
    if kept is not None:
        seq, expected_hash = kept
        if hash_at_kept is None:
            problems.append(f"truncated: the log ends at seq {report.head_seq}, the kept head is seq {seq}")
        elif hash_at_kept != expected_hash:
            problems.append(f"rewritten: record seq {seq} is not the record whose hash was kept")
    if as_json:
        typer.echo(json.dumps({"records": report.records, "head": f"{report.head_seq}:{report.head_hash}",
                               "problems": problems}))  # fmt: skip
    elif problems:
        console().print(f"[red]audit log NOT intact[/red] ({report.records} records):")
        for line in problems:
            console().print(f"  {line}")
    else:
        console().print(f"audit log intact: {report.records} records; head {report.head_seq}:{report.head_hash}")
        console().print("keep the head elsewhere and pass it as --expect-head next time to catch cut-off records")
    if problems:
        raise typer.Exit(1)


@app.command("list")
def list_(limit: Annotated[int, typer.Option(min=1, max=1000)] = 50) -> None:
    """The newest audit records, newest first."""
    from cozegate.compliance import AuditLog

    records = run_with_database(lambda db: AuditLog(db).recent(limit))
    rows = table("seq", "at", "actor", "action", "tenant", "target", "request id")
    for r in records:
        rows.add_row(
            str(r["seq"]),
            when(r["at"]),
            r["actor"],
            r["action"],
            r["tenant"] or "-",
            r["target"] or "-",
            r["request_id"] or "-",
        )
    console().print(rows if records else "the audit log is empty")
