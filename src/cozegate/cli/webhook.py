"""``cozegate webhook``: sign (and send) a test event the way a channel would."""

from __future__ import annotations

import json
import secrets
import shlex
import time
from typing import Annotated

import typer

from cozegate.cli.display import command_group
from cozegate.cli.server_api import default_server_url
from cozegate.tenants.names import DEFAULT_TENANT

app = command_group("Sign or send test webhooks with a tenant's secret (from the tenants file).")

EXAMPLE = (
    '{"event_type":"message_create","event_id":"evt-1","conversation_id":"c1","user_id":"u1",'
    '"message":{"role":"user","content":"hello"}}'
)


def _signed_headers(tenant_name: str, body: bytes) -> dict[str, str]:
    from cozegate.settings import Settings
    from cozegate.tenants import TenantRegistry
    from cozegate.webhooks.signatures import sign_hub, standard_headers

    settings = Settings()
    registry = TenantRegistry.from_file(settings.resolved_tenants_file)
    tenant = registry.ingress(tenant_name)
    if tenant is None:
        raise typer.BadParameter(f"no tenant {tenant_name!r} in {settings.resolved_tenants_file}")
    now = int(time.time())
    key = tenant.active_keys(now)[0]
    headers = {"content-type": "application/json"}
    if tenant.scheme == "standard":
        headers |= standard_headers(key, "msg_" + secrets.token_hex(8), now, body)
    elif tenant.timestamp_header:
        headers["x-hub-signature-256"] = sign_hub(key, body, now)
        headers[tenant.timestamp_header] = str(now)
    else:
        headers["x-hub-signature-256"] = sign_hub(key, body)
    return headers


@app.command()
def sign(
    body: Annotated[str, typer.Argument(help="The JSON body.")] = EXAMPLE,
    tenant: Annotated[str, typer.Option(help="Tenant whose secret signs.")] = DEFAULT_TENANT,
    url: Annotated[
        str | None, typer.Option(help="Where the curl command posts (default: this host's COZEGATE_PORT).")
    ] = None,
) -> None:
    """Print a ready-to-run signed curl command."""
    from cozegate.settings import Settings

    url = url or default_server_url(Settings()) + "/coze/webhook"
    headers = _signed_headers(tenant, body.encode())
    parts = ["curl", "-sS", url] + [x for k, v in headers.items() for x in ("-H", f"{k}: {v}")] + ["-d", body]
    typer.echo(" ".join(shlex.quote(p) for p in parts))


@app.command()
def send(
    text: Annotated[str | None, typer.Argument(help="A user message (a message_create event is built).")] = None,
    body: Annotated[str | None, typer.Option(help="A whole JSON body instead of TEXT.")] = None,
    conversation: Annotated[str, typer.Option(help="Conversation id for TEXT.")] = "demo-conversation",
    tenant: Annotated[str, typer.Option(help="Tenant whose secret signs.")] = DEFAULT_TENANT,
    url: Annotated[str | None, typer.Option(help="Server base URL (default: this host's COZEGATE_PORT).")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the bot's answer (0: do not wait).")] = 30.0,
) -> None:
    """Sign and POST one event to a running server, then print the bot's answer when it comes.

    `cozegate webhook send "hello"` builds a message_create event with a fresh event id.
    """
    import httpx

    from cozegate.settings import Settings

    event_id = "evt-" + secrets.token_hex(6)
    if body is None:
        body = json.dumps(
            {
                "event_type": "message_create",
                "event_id": event_id,
                "conversation_id": conversation,
                "user_id": "demo-user",
                "message": {"role": "user", "content": text or "hello"},
            }
        )
    else:
        event_id = str(json.loads(body).get("event_id", ""))
    base = (url or default_server_url(Settings())).rstrip("/")
    path = "/coze/webhook" if tenant == DEFAULT_TENANT else f"/webhooks/{tenant}"
    try:
        response = httpx.post(base + path, content=body.encode(), headers=_signed_headers(tenant, body.encode()))
    except httpx.TransportError as exc:
        typer.echo(f"cozegate: no server answers at {base} ({exc}); start `cozegate serve`", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{response.status_code} {json.dumps(response.json())}")
    if not response.is_success:
        raise typer.Exit(1)
    conversation_id = json.loads(body).get("conversation_id")
    if wait <= 0 or not conversation_id or response.json().get("status") != "acknowledged":
        return
    answer = _wait_for_answer(base, tenant, conversation_id, event_id, wait)
    if answer is None:
        typer.echo(f"no answer within {wait:.0f} s (see `cozegate dlq list` and the server log)", err=True)
        raise typer.Exit(1)
    typer.echo(f"bot: {answer}")


def _wait_for_answer(base: str, tenant: str, conversation_id: str, event_id: str, wait: float) -> str | None:
    import httpx

    from cozegate.settings import Settings

    token = Settings().resolved_admin_token()
    if token is None:
        typer.echo("set COZEGATE_ADMIN_TOKEN to read the answer back", err=True)
        return None
    headers = {"authorization": f"Bearer {token.get_secret_value()}"}
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        r = httpx.get(f"{base}/v1/conversations/{conversation_id}/messages", params={"tenant": tenant}, headers=headers)
        if r.is_success:
            for item in r.json()["items"]:
                if item["role"] == "assistant" and item["source_event"] == event_id:
                    return str(item["content"])
        time.sleep(0.2)
    return None
