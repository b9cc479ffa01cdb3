"""``cozegate privacy``: a user's data: export it, erase it; purge what is past tenants' retention."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer

from cozegate.cli.database import run_with_database
from cozegate.compliance import AuditLog
from cozegate.compliance.retention import purge_expired
from cozegate.compliance.subject_rights import SubjectRights
from cozegate.conversations.context import ContextStore, MemoryContextCache, RedisContextCache
from cozegate.conversations.context.cache import ContextCache
from cozegate.settings import Settings
from cozegate.storage import Database, create_redis
from cozegate.tenants import TenantRegistry

app = typer.Typer(help="Subject rights (GDPR / PIPL): export or erase what is held about a user.", no_args_is_help=True)

TENANT = Annotated[str, typer.Option("--tenant", help="The tenant the user belongs to.")]
USER = Annotated[str, typer.Option("--user", help="The user id as channels send it (`user_id`).")]


def _rights(db: Database, settings: Settings) -> tuple[SubjectRights, ContextStore]:
    redis = create_redis(settings)
    cache: ContextCache = (
        RedisContextCache(redis, settings.redis_prefix, settings.context_cache_ttl_seconds)
        if redis is not None
        else MemoryContextCache(settings.context_cache_ttl_seconds)
    )
    contexts = ContextStore(db, cache)
    key = settings.resolved_pseudonym_key(create=True)
    if key is None:
        typer.echo("cozegate: set COZEGATE_PSEUDONYM_KEY (the key every replica uses for pseudonyms)", err=True)
        raise typer.Exit(2)
    return SubjectRights(db, contexts, AuditLog(db), key.get_secret_value().encode()), contexts


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@app.command()
def export(
    tenant: TENANT,
    user: USER,
    out: Annotated[Path | None, typer.Option(help="Write the JSON here instead of standard output.")] = None,
) -> None:
    """Everything held about the user, as JSON (audited, with a pseudonym of the user)."""
    settings = Settings()

    async def work(db: Database) -> dict[str, object]:
        rights, _ = _rights(db, settings)
        return await rights.export(tenant, user, actor=_actor())

    text = json.dumps(run_with_database(work), ensure_ascii=False, indent=2, default=str)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


@app.command()
def erase(
    tenant: TENANT,
    user: USER,
    yes: Annotated[bool, typer.Option("--yes", help="Do it without asking.")] = False,
) -> None:
    """Remove or irreversibly blank everything held about the user; the audit log keeps a pseudonym."""
    if not yes:
        typer.confirm(f"Erase everything about user {user!r} of tenant {tenant!r}? This cannot be undone", abort=True)
    settings = Settings()

    async def work(db: Database) -> dict[str, object]:
        rights, _ = _rights(db, settings)
        return (await rights.erase(tenant, user, actor=_actor())).__dict__

    typer.echo(json.dumps({"status": "erased", **run_with_database(work)}))


@app.command()
def purge() -> None:
    """Apply every tenant's `retention_days` now (a running server does it every hour)."""
    settings = Settings()
    limits = TenantRegistry.from_file(settings.resolved_tenants_file).retention_days()
    if not limits:
        typer.echo("no tenant has retention_days set; nothing to purge")
        return

    async def work(db: Database) -> dict[str, dict[str, int]]:
        _, contexts = _rights(db, settings)
        return await purge_expired(db, contexts, limits)

    typer.echo(json.dumps(run_with_database(work)))
