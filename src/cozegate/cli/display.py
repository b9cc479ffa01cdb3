"""How the commands show values to people."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def when(ts: float | None) -> str:
    """A Unix time as UTC ``YYYY-MM-DD HH:MM:SS``; ``-`` for none."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


@functools.cache
def console() -> Console:
    """The terminal the commands print tables and progress to (rich is imported only when one prints)."""
    from rich.console import Console

    return Console()


def table(*columns: str) -> Table:
    from rich.table import Table

    return Table(*columns)


def command_group(help: str) -> typer.Typer:
    """A ``cozegate`` sub-command group. Help is plain click text: rich's renderer costs a tenth of a second
    of start-up on every ``--help``."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)
