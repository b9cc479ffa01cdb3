"""``cozegate sim``: run the local Coze OpenAPI simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

PORT_HELP = "Listen port."
HOST_HELP = "Listen address; keep it on loopback (the simulator accepts fixed test tokens)."
EXPOSE_HELP = "Allow a non-loopback --host: anyone who reaches it can inject faults and read requests."
SCENARIO_HELP = "Scenario YAML: accepted tokens, bots, workflows, faults active from the start."


def sim(
    port: Annotated[int, typer.Option(help=PORT_HELP)] = 8800,
    host: Annotated[str, typer.Option(help=HOST_HELP)] = "127.0.0.1",
    scenario: Annotated[Path | None, typer.Option(help=SCENARIO_HELP, exists=True, dir_okay=False)] = None,
    expose: Annotated[bool, typer.Option("--expose", help=EXPOSE_HELP)] = False,
) -> None:
    """Run a local Coze OpenAPI simulator for development and tests (no Coze account, no internet).

    It serves the paths cozepy calls (chat v3 with SSE, conversations and messages, bots, datasets and
    documents, workflows, files, users.me, OAuth JWT) with scripted bots: bot-echo, bot-canned,
    bot-knowledge, bot-tool (asks for a client-side tool) and bot-fail. Point a client at it with
    base_url=http://HOST:PORT and the token `test-token` (or the scenario's tokens).

    Inject faults at run time through the admin API, e.g.
    `curl -X POST http://HOST:PORT/sim/faults -d '{"kind":"rate_limit","endpoint":"chat.create","count":1}'`;
    read what the simulator received with `GET /sim/requests`.
    """
    from cozegate.coze.clients import is_loopback

    if not is_loopback(host) and not expose:
        typer.echo(f"error: {host} is not a loopback address; add --expose to serve the simulator there", err=True)
        raise typer.Exit(2)
    import uvicorn

    from cozegate.coze.simulator import SimulatorConfig, create_simulator_app, load_simulator_config

    config = load_simulator_config(scenario) if scenario is not None else SimulatorConfig()
    typer.echo(f"Coze simulator on http://{host}:{port} (tokens: {', '.join(config.tokens)})", err=True)
    uvicorn.run(create_simulator_app(config), host=host, port=port, log_level="info")
