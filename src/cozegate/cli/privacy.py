"""``cozegate privacy``: a user's data: export it, erase it; purge what is past tenants' retention.

Embedded, a running ``cozegate serve`` on the configured port does the work (so its in-process cache
forgets too); otherwise the command works on the database (and Redis) itself.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cozegate.cli.database import run_with_database
from cozegate.cli.display import command_group

if TYPE_CHECKING:
    from cozegate.compliance.subject_rights import SubjectRights
    from cozegate.conversations.context import ContextStore
    from cozegate.settings import Settings
    from cozegate.storage import Database

app = command_group("Subject rights (GDPR / PIPL): export or erase what is held about a user.")

TENANT = Annotated[str, typer.Option("--tenant", help="The tenant the user belongs to.")]
USER = Annotated[str, typer.Option("--user", help="The user id as channels send it (`user_id`).")]


def _via_running_server(settings: Settings, path: str, payload: dict[str, str]) -> Any:
    """Embedded: a running server's in-process cache can only be cleared by that server, so ask it first."""
    import httpx

    token = settings.resolved_admin_token()
    if not settings.is_sqlite or token is None:
        return None
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104 - comparing
    try:
        response = httpx.post(
            f"http://{host}:{settings.port}{path}",
            json=payload,
            headers={"authorization": f"Bearer {token.get_secret_value()}"},
            timeout=120,
        )
    except httpx.TransportError:
        return None  # no server running: work on the database directly
    if response.status_code != 200:
        typer.echo(f"cozegate: the running server refused: {response.status_code} {response.text}", err=True)
        raise typer.Exit(1)
    return response.json()


def _rights(db: Database, settings: Settings) -> tuple[SubjectRights, ContextStore]:
    from cozegate.compliance import AuditLog
    from cozegate.compliance.subject_rights import SubjectRights
    from cozegate.conversations.context import ContextStore
    from cozegate.conversations.context.cache import build_context_cache
    from cozegate.storage import create_redis

    contexts = ContextStore(db, build_context_cache(settings, create_redis(settings)))
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
    from cozegate.settings import Settings

    settings = Settings()

    async def work(db: Database) -> dict[str, object]:
        rights, _ = _rights(db, settings)
        return await rights.export(tenant, user, actor=_actor())

    held = _via_running_server(settings, "/admin/privacy/export", {"tenant": tenant, "user_id": user})
    text = json.dumps(held or run_with_database(work), ensure_ascii=False, indent=2, default=str)
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
    from cozegate.settings import Settings

    settings = Settings()

    async def work(db: Database) -> dict[str, object]:
        rights, _ = _rights(db, settings)
        return (await rights.erase(tenant, user, actor=_actor())).__dict__

    done = _via_running_server(settings, "/admin/privacy/erase", {"tenant": tenant, "user_id": user})
    typer.echo(json.dumps(done or {"status": "erased", **run_with_database(work)}))


@app.command()
def purge() -> None:
    """Apply every tenant's `retention_days` now (a running server does it every hour)."""
    from cozegate.compliance.retention import purge_expired
    from cozegate.settings import Settings
    from cozegate.tenants import TenantRegistry

    settings = Settings()
    limits = TenantRegistry.from_file(settings.resolved_tenants_file).retention_days()
    if not limits:
        typer.echo("no tenant has retention_days set; nothing to purge")
        return

    async def work(db: Database) -> dict[str, dict[str, int]]:
        _, contexts = _rights(db, settings)
        return await purge_expired(db, contexts, limits)

    done = _via_running_server(settings, "/admin/privacy/purge", {})
    typer.echo(json.dumps(done["removed"] if done else run_with_database(work)))
