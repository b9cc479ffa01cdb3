"""``cozegate knowledge``: sync a tenant's knowledge sources and search them, through a running server
(the server holds the vector index: Milvus Lite allows one process per index folder)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cozegate.cli.display import command_group, console, table, when
from cozegate.cli.server_api import URL, call, fail_on_error, no_server, server_client

if TYPE_CHECKING:
    import httpx

app = command_group(
    "Knowledge: sync sources (Coze knowledge bases, folders, web pages) into the vector index; search it.\n\n"
    "Talks to a running `cozegate serve` (its admin API). Sources are configured per tenant under `knowledge:` "
    "in the tenants file."
)
TENANT = Annotated[str, typer.Option("--tenant", "-t", help="The tenant whose knowledge to use.")]


@app.command()
def sync(
    tenant: TENANT = "default",
    source: Annotated[str | None, typer.Option(help="Only this source (default: all of the tenant's).")] = None,
    url: URL = None,
) -> None:
    """Sync now, with a progress bar per source and a summary (added / updated / deleted / unchanged / skipped).

    Only what changed is fetched and embedded; an interrupted sync resumes where it stopped. Exits 1 if a
    source failed, 3 if every source that did not run was busy with another sync.
    """
    import httpx

    summaries: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    started: list[str] = []
    with server_client(url, timeout=None) as client:
        try:
            with client.stream("POST", f"/admin/knowledge/{tenant}/sync", json={"source": source}) as response:
                if response.status_code == 409:
                    response.read()
                    typer.echo(f"cozegate: {response.json()['error']['message']}", err=True)
                    raise typer.Exit(3)
                fail_on_error(response)
                _follow(response, summaries, errors, started)
        except httpx.TransportError as exc:
            raise no_server(client, exc) from None
    _summarise(summaries)
    ended = {s["source"] for s in summaries} | {e.get("source") for e in errors}
    if (source is not None and source not in ended) or not ended:
        errors.append({"source": source or tenant, "message": "the server stopped before the sync ended"})
    for error in errors:
        typer.echo(f"cozegate: {error.get('source')}: {error.get('message')}", err=True)
    if errors:
        raise typer.Exit(3 if all(e.get("code") == "sync_running" for e in errors) else 1)


def _follow(
    response: httpx.Response, summaries: list[dict[str, Any]], errors: list[dict[str, Any]], started: list[str]
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console(), transient=False) as progress:
        tasks: dict[str, TaskID] = {}
        for line in response.iter_lines():
            if not line.strip():
                continue
            item = json.loads(line)
            event = item.get("event")
            if event == "started":
                started.append(item["source"])
                resumed = f" (resuming after {item['resumed_after']})" if item.get("resumed_after") else ""
                tasks[item["source"]] = progress.add_task(f"{item['source']}{resumed}", total=item["total"])
            elif event == "document" and item["source"] in tasks:
                progress.advance(tasks[item["source"]])
            elif event == "summary":
                summaries.append(item)
            elif event == "error":
                errors.append(item)


def _summarise(summaries: list[dict[str, Any]]) -> None:
    for s in summaries:
        counts = ", ".join(f"{s[k]} {k}" for k in ("added", "updated", "deleted", "unchanged", "skipped"))
        chunks = f"{s['chunks_embedded']} chunks embedded, {s['chunks_reused']} reused"
        console().print(f"[bold]{s['source']}[/bold]: {counts}; {chunks} ({s['seconds']:.1f} s)", highlight=False)
        for reason in s.get("skip_reasons", []):
            console().print(f"  skipped: {reason}", highlight=False, markup=False)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for (any language).")],
    tenant: TENANT = "default",
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="How many passages.")] = 5,
    mode: Annotated[
        str, typer.Option(help="auto (hybrid with a semantic embedder, else keyword), hybrid, dense or keyword.")
    ] = "auto",
    source: Annotated[list[str] | None, typer.Option(help="Only these sources (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
    url: URL = None,
) -> None:
    """Search the tenant's knowledge and print the best passages with their score and origin."""
    from cozegate.knowledge.passages import heading

    found = call(
        url, "GET", "/v1/knowledge/search", q=query, tenant=tenant, top_k=top_k, mode=mode, source=source or []
    )
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    if not found["results"]:
        console().print("no passage found (has the tenant's knowledge been synced? `cozegate knowledge sync`)")
    for rank, passage in enumerate(found["results"], start=1):
        where = heading(passage["title"], passage["section"])
        console().print(
            f"[bold]{rank}. {where}[/bold]  score {passage['score']:.3f}  ({passage['source']}: {passage['document']})",
            highlight=False,
        )
        console().print(passage["text"], highlight=False, markup=False)
        console().print()


@app.command()
def status(tenant: TENANT = "default", url: URL = None) -> None:
    """Each source: documents indexed, last sync and its counts, a running or interrupted sync."""
    shown = call(url, "GET", f"/admin/knowledge/{tenant}")
    rows = table("source", "kind", "documents", "last sync", "last counts", "now")
    for s in shown["sources"]:
        last = s["last_summary"] or {}
        counts = ", ".join(
            f"{last[k]} {k}" for k in ("added", "updated", "deleted", "unchanged", "skipped") if last.get(k)
        )
        now = "syncing" if s["syncing"] else ("interrupted" if s["interrupted_at"] else "")
        rows.add_row(s["name"], s["kind"], str(s["documents"]), when(s["synced_at"]), counts or "-", now)
    console().print(rows)
