"""``cozegate bots``: the bot lifecycle through a running server's admin API (the server runs the
deploys, so the command asks it; see ``server_api``)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from cozegate.cli.display import command_group, console, table, when
from cozegate.cli.server_api import URL, call
from cozegate.lifecycle.model import API_CONNECTOR, Recovery

app = command_group(
    "Bot lifecycle: create, deploy, scale, terminate; state, history and health incidents.\n\n"
    "Talks to a running `cozegate serve` (its admin API); the server publishes to Coze."
)

WAIT = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the bot is out of its transitional state.")]
SETTLED = ("pending", "running", "terminated", "failed")
ROLLED_BACK = ("deploy_failed", "scale_failed", "terminate_failed", "timed_out")


def _show(bot: dict[str, Any]) -> None:
    console().print(
        f"[bold]{bot['name']}[/bold] (tenant {bot['tenant']}): [bold]{bot['state']}[/bold], "
        f"version {bot['version'] or '-'} on Coze bot {bot['coze_bot_id'] or '-'}, {bot['replicas']} replicas, "
        f"recovery {bot['recovery']}"
    )


def _command(url: str | None, name: str, action: str, body: dict[str, Any] | None, wait: bool) -> None:
    bot = call(url, "POST", f"/admin/bots/{name}/{action}", body)["bot"]
    if wait:
        with console().status(f"{name}: {bot['state']}…"):
            while bot["state"] not in SETTLED:
                time.sleep(0.2)
                bot = call(url, "GET", f"/admin/bots/{name}")["bot"]
    _show(bot)
    if wait and bot["state"] not in ("pending", "terminating"):
        last = call(url, "GET", f"/admin/bots/{name}/history")["history"][-1]
        if last["trigger"] in ROLLED_BACK:  # failed, or back on the previous release / replica count
            typer.echo(f"cozegate: {action} was rolled back ({last['trigger']}): {last['detail']}", err=True)
            raise typer.Exit(1)


@app.command("list")
def list_(url: URL = None, tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None) -> None:
    """Every managed bot and its state."""
    bots = call(url, "GET", "/admin/bots" + (f"?tenant={tenant}" if tenant else ""))["bots"]
    rows = table("name", "tenant", "state", "version", "Coze bot", "replicas", "recovery", "stable")
    for b in bots:
        stable = b["stable"][-1]["version"] if b["stable"] else "-"  # the most recent
        rows.add_row(
            b["name"],
            b["tenant"],
            b["state"],
            b["version"] or "-",
            b["coze_bot_id"] or "-",
            str(b["replicas"]),
            b["recovery"],
            stable,
        )
    console().print(rows)


@app.command()
def create(
    name: str,
    tenant: Annotated[str, typer.Option(help="The tenant whose users the bot answers.")],
    recovery: Annotated[Recovery, typer.Option(help="What the health prober does when the bot keeps failing.")] = (
        Recovery.CIRCUIT_BREAK
    ),
    fallback_reply: Annotated[str | None, typer.Option(help="What users read while the circuit is open.")] = None,
    url: URL = None,
) -> None:
    """Create a bot (state pending), or change how it recovers."""
    body: dict[str, Any] = {"tenant": tenant, "recovery": recovery.value}
    if fallback_reply is not None:
        body["fallback_reply"] = fallback_reply
    _show(call(url, "PUT", f"/admin/bots/{name}", body)["bot"])


@app.command()
def deploy(
    name: str,
    version: Annotated[str, typer.Option(help="Your label of this version (deploying it again is a no-op).")],
    coze_bot_id: Annotated[str, typer.Option(help="The Coze bot that serves this version.")],
    connector: Annotated[list[str], typer.Option(help="Coze channel ids to publish to (1024: API).")] = [  # noqa: B006
        API_CONNECTOR
    ],
    wait: WAIT = True,
    url: URL = None,
) -> None:
    """Publish a version to its Coze channels; rolled back if it does not finish in time."""
    _command(url, name, "deploy", {"version": version, "coze_bot_id": coze_bot_id, "connectors": connector}, wait)


@app.command()
def scale(
    name: str,
    replicas: Annotated[int, typer.Option(min=0, help="Worker replicas for this bot.")],
    wait: WAIT = True,
    url: URL = None,
) -> None:
    """Change the bot's replica count (the previous one comes back if scaling fails)."""
    _command(url, name, "scale", {"replicas": replicas}, wait)


@app.command()
def terminate(name: str, wait: WAIT = True, url: URL = None) -> None:
    """Withdraw the bot from its channels. Final."""
    _command(url, name, "terminate", None, wait)


@app.command()
def show(name: str, url: URL = None) -> None:
    """One bot, its open incident and its history."""
    shown = call(url, "GET", f"/admin/bots/{name}")
    _show(shown["bot"])
    if shown["incident"]:
        i = shown["incident"]
        console().print(
            f"[red]incident {i['id']}[/red] since {when(i['opened_at'])}: {i['reason']} → {i['action_result']}"
        )
    rows = table("at", "from", "to", "trigger", "version", "replicas", "by", "detail")
    for t in call(url, "GET", f"/admin/bots/{name}/history")["history"]:
        rows.add_row(
            when(t["at"]),
            t["from"],
            t["to"],
            t["trigger"],
            t["version"] or "-",
            str(t["replicas"]),
            t["actor"],
            t["detail"] or "",
        )
    console().print(rows)


@app.command()
def incidents(
    url: URL = None, open_only: Annotated[bool, typer.Option("--open", help="Only open ones.")] = False
) -> None:
    """Health incidents, newest first."""
    found = call(url, "GET", "/admin/incidents" + ("?open=true" if open_only else ""))["incidents"]
    rows = table("id", "bot", "state", "opened", "closed", "reason", "action")
    for i in found:
        rows.add_row(
            str(i["id"]),
            i["bot"],
            i["state"],
            when(i["opened_at"]),
            when(i["closed_at"]),
            i["reason"],
            i["action_result"] or i["action"],
        )
    console().print(rows)
