"""``cozegate plugins``: serve plugins on their own and describe them for import into Coze."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from cozegate.cli.display import command_group

if TYPE_CHECKING:
    from cozegate.plugins import Plugin

app = command_group("Plugins (tools) Coze bots call over HTTP: serve them, export their OpenAPI and manifest for Coze.")

SPEC_HELP = "The plugin as `package.module:attribute` (the working directory is importable)."


def _load(spec: str) -> Plugin:
    from cozegate.imports import load_object
    from cozegate.plugins import Plugin

    try:
        return load_object(spec, Plugin)
    except (ImportError, ValueError, TypeError) as exc:
        typer.echo(f"cozegate: cannot load plugin {spec!r}: {exc}", err=True)
        raise typer.Exit(2) from None


def load_ready(specs: list[str]) -> list[Plugin]:
    """Load plugins and check they can serve (tokens configured); exit 2 with the reason if not."""
    plugins = [_load(spec) for spec in specs]
    for plugin in plugins:
        try:
            plugin.check_ready()
        except Exception as exc:
            typer.echo(f"cozegate: plugin {plugin.name!r} cannot serve: {exc}", err=True)
            raise typer.Exit(2) from None
    return plugins


@app.command()
def serve(
    specs: Annotated[list[str], typer.Argument(help=SPEC_HELP, metavar="MODULE:PLUGIN...")],
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 9100,
    proxy_headers: Annotated[
        bool, typer.Option(help="Trust X-Forwarded-For from --forwarded-allow-ips (for IP allow-lists behind a proxy).")
    ] = False,
    forwarded_allow_ips: Annotated[str, typer.Option(help="Proxies trusted for X-Forwarded-*.")] = "127.0.0.1",
) -> None:
    """Serve plugins without the rest of cozegate: POST /plugins/{plugin}/{tool}, /healthz, /metrics.

    Each plugin also describes itself at /plugins/{plugin}/openapi.yaml and /plugins/{plugin}/manifest.json.
    """
    import uvicorn

    from cozegate.compliance.log_masking import masked_logging
    from cozegate.plugins.standalone import plugin_app
    from cozegate.settings import Settings

    plugins = load_ready(specs)
    masked_logging(Settings())
    for plugin in plugins:
        typer.echo(
            f"plugin {plugin.name}: http://{host}:{port}/plugins/{plugin.name}/ ({len(plugin.tools)} tools)", err=True
        )
    uvicorn.run(
        plugin_app(plugins),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
    )


@app.command()
def openapi(
    spec: Annotated[str, typer.Argument(help=SPEC_HELP, metavar="MODULE:PLUGIN")],
    server_url: Annotated[
        str, typer.Option(help="Where Coze reaches the plugin: scheme and host, e.g. https://gw.example.com.")
    ] = "http://127.0.0.1:9100",
    format: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
) -> None:
    """Print the plugin's OpenAPI 3.0 document, in the form Coze's "import plugin" accepts.

    Example: cozegate plugins openapi examples.orders_plugin:plugin --server-url https://gw.example.com > orders.yaml
    """
    from cozegate.plugins.openapi import UnsupportedSchemaError, plugin_openapi

    try:
        document = plugin_openapi(_load(spec), server_url)
    except (ValueError, UnsupportedSchemaError) as exc:
        typer.echo(f"cozegate: {exc}", err=True)
        raise typer.Exit(2) from None
    if format == "json":
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        import yaml

        typer.echo(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), nl=False)


@app.command()
def manifest(spec: Annotated[str, typer.Argument(help=SPEC_HELP, metavar="MODULE:PLUGIN")]) -> None:
    """Print the plugin's coze-studio manifest (plugin.json); fill in the service token placeholder yourself."""
    from cozegate.plugins.openapi import plugin_manifest

    typer.echo(json.dumps(plugin_manifest(_load(spec)), ensure_ascii=False, indent=2))
