"""The ``cozegate`` command."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cozegate.cli import audit, bots, dlq, knowledge, plugins, privacy, webhook
from cozegate.cli.operator import operator
from cozegate.cli.sim import sim

app = typer.Typer(
    help="cozegate: the integration gateway that puts Coze bots safely into production.\n\n"
    "Settings come from COZEGATE_* environment variables or a .env file (see README).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
app.add_typer(dlq.app, name="dlq")
app.add_typer(webhook.app, name="webhook")
app.add_typer(plugins.app, name="plugins")
app.add_typer(audit.app, name="audit")
app.add_typer(privacy.app, name="privacy")
app.add_typer(bots.app, name="bots")
app.add_typer(knowledge.app, name="knowledge")
app.command()(sim)
app.command()(operator)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (COZEGATE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (COZEGATE_PORT).")] = None,
    server: Annotated[str | None, typer.Option(help="granian or uvicorn (COZEGATE_SERVER).")] = None,
    processes: Annotated[
        int | None,
        typer.Option(help="Server processes on the port (COZEGATE_PROCESSES); above 1 needs PostgreSQL and Redis."),
    ] = None,
) -> None:
    """Run the gateway: webhooks in, durable inbox, workers, admin API, /metrics.

    With no settings it runs embedded: SQLite under ./.cozegate/, migrations applied at start, and a
    `default` tenant whose secret is written to ./.cozegate/tenants.yaml.
    """
    from cozegate.cli.serve import ProcessesNeedSharedBackendsError, run_server
    from cozegate.compliance.log_masking import masked_logging
    from cozegate.settings import Settings

    chosen = {"host": host, "port": port, "server": server, "processes": processes}
    overrides = {k: v for k, v in chosen.items() if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    masked_logging(settings)
    from cozegate.coze.clients import simulator_refusal

    refusal = simulator_refusal(settings)
    if refusal is not None:
        typer.echo(f"error: {refusal}", err=True)
        raise typer.Exit(2)
    if settings.plugins:
        plugins.load_ready(settings.plugins)  # fail here, with the reason, rather than inside the server
    try:
        run_server(settings)
    except ProcessesNeedSharedBackendsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def migrate() -> None:
    """Bring the database schema to the version this cozegate needs (run before a distributed roll-out)."""
    import asyncio

    from cozegate.compliance.log_masking import masked_logging
    from cozegate.settings import Settings
    from cozegate.storage import create_engine, upgrade_to_head

    settings = Settings()
    masked_logging(settings, "text")

    async def run() -> None:
        engine = create_engine(settings)
        try:
            await upgrade_to_head(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    typer.echo(f"database at {settings.resolved_database_url.split('@')[-1]} is up to date")


def main() -> None:
    try:
        app()
    except Exception as exc:
        pydantic = sys.modules.get("pydantic")  # not imported: the error is not a settings error
        if pydantic is None or not isinstance(exc, pydantic.ValidationError):
            raise
        lines = [f"  {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()]
        typer.echo("cozegate: invalid configuration (COZEGATE_* variables or .env):\n" + "\n".join(lines), err=True)
        raise SystemExit(2) from None
