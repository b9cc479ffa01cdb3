"""Commands that ask a running ``cozegate serve`` through its admin API (``--url`` reaches one elsewhere;
the admin token comes from the settings, ``COZEGATE_ADMIN_TOKEN`` or the embedded state folder)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import httpx

    from cozegate.settings import Settings

URL = Annotated[str | None, typer.Option("--url", help="The server's base URL (default: this host's COZEGATE_PORT).")]


def default_server_url(settings: Settings) -> str:
    """This host's server, as ``COZEGATE_HOST`` / ``COZEGATE_PORT`` say (a wildcard address: loopback)."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104 - comparing
    return f"http://{host}:{settings.port}"


def server_client(url: str | None, timeout: float | None = 30.0) -> httpx.Client:
    import httpx

    from cozegate.settings import Settings

    settings = Settings()
    token = settings.resolved_admin_token()
    if token is None:
        typer.echo("cozegate: no admin token: set COZEGATE_ADMIN_TOKEN (the server's)", err=True)
        raise typer.Exit(2)
    url = url or default_server_url(settings)
    headers = {"authorization": f"Bearer {token.get_secret_value()}"}
    return httpx.Client(base_url=url, headers=headers, timeout=timeout)


def no_server(client: httpx.Client, exc: Exception) -> typer.Exit:
    typer.echo(f"cozegate: no server answers at {client.base_url} ({exc}); start `cozegate serve`", err=True)
    return typer.Exit(1)


def fail_on_error(response: httpx.Response) -> None:
    """Exit 1 with the server's error message for a 4xx/5xx answer."""
    if response.status_code < 400:
        return
    if "json" in response.headers.get("content-type", ""):
        error = response.json().get("error", {})
    else:
        response.read()
        error = {}
    typer.echo(f"cozegate: {error.get('message') or response.text} ({response.status_code})", err=True)
    raise typer.Exit(1)


def call(url: str | None, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
    import httpx

    with server_client(url) as client:
        try:
            response = client.request(method, path, json=body, params=params or None)
        except httpx.TransportError as exc:
            raise no_server(client, exc) from None
    fail_on_error(response)
    result: dict[str, Any] = response.json()
    return result
