"""``cozegate dlq``: inspect, replay and discard dead letters straight from the database."""

from __future__ import annotations

import getpass
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from cozegate.cli.database import run_with_database
from cozegate.cli.display import command_group, console, table, when

if TYPE_CHECKING:
    from cozegate.inbox.dead_letters import DeadLetters

app = command_group("Dead letters: events whose handler kept failing. List, show, replay or discard them.")
T = TypeVar("T")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _run(action: Callable[[DeadLetters], Awaitable[T]]) -> T:
    from cozegate.compliance import AuditLog
    from cozegate.inbox import InboxStore
    from cozegate.inbox.dead_letters import DeadLetterNotFoundError, DeadLetters

    try:
        return run_with_database(lambda db: action(DeadLetters(InboxStore(db), AuditLog(db))))
    except DeadLetterNotFoundError as exc:
        console().print(f"[red]no dead letter with id {exc.args[0]}[/red] (see `cozegate dlq list`)")
        raise typer.Exit(1) from None


@app.command("list")
def list_(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    after_id: Annotated[int, typer.Option(help="Page on from this id.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List dead letters, oldest first."""
    items = _run(lambda d: d.list(actor=_actor(), tenant=tenant, after_id=after_id, limit=limit))
    if as_json:
        typer.echo(json.dumps([e.summary() for e in items]))
        return
    rows = table("id", "tenant", "event type", "key", "attempts", "dead since", "last error")
    for e in items:
        rows.add_row(
            str(e.id),
            e.tenant,
            e.event_type,
            e.dedup_key,
            str(e.attempts),
            when(e.finished_at),
            (e.last_error or "")[:60],
        )
    console().print(rows if items else "no dead letters")


@app.command()
def show(event_id: int) -> None:
    """Show one dead letter with its payload and attempt history (JSON)."""
    event = _run(lambda d: d.show(event_id, actor=_actor()))
    typer.echo(json.dumps(event.detail(), indent=2, ensure_ascii=False))


@app.command()
def replay(event_ids: list[int]) -> None:
    """Put dead letters back in the queue with a fresh attempt budget (a running server picks them up)."""
    for event_id in event_ids:
        _run(lambda d, i=event_id: d.replay(i, actor=_actor()))  # type: ignore[misc]
        console().print(f"replayed {event_id}")


@app.command()
def discard(event_ids: list[int]) -> None:
    """Mark dead letters as discarded: they stay for audit but are never processed."""
    for event_id in event_ids:
        _run(lambda d, i=event_id: d.discard(i, actor=_actor()))  # type: ignore[misc]
        console().print(f"discarded {event_id}")
