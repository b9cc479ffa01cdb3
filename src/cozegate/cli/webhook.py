"""``cozegate webhook``: sign (and send) a test event the way a channel would."""

from __future__ import annotations

import json
import secrets
import shlex
import time
from typing import Annotated

import httpx
import typer

from cozegate.ingress import sign_hub, sign_standard
from cozegate.settings import Settings
from cozegate.tenants import DEFAULT_TENANT, TenantRegistry

app = typer.Typer(
    help="Sign or send test webhooks with a tenant's secret (from the tenants file).", no_args_is_help=True
)

EXAMPLE = (
    '{"event_type":"message_create","event_id":"evt-1","conversation_id":"c1","user_id":"u1",'
    '"message":{"role":"user","content":"hello"}}'
)


def _signed_headers(tenant_name: str, body: bytes) -> dict[str, str]:
    settings = Settings()
    registry = TenantRegistry.from_file(settings.resolved_tenants_file)
    tenant = registry.ingress(tenant_name)
    if tenant is None:
        raise typer.BadParameter(f"no tenant {tenant_name!r} in {settings.resolved_tenants_file}")
    now = int(time.time())
    key = tenant.active_keys(now)[0]
    headers = {"content-type": "application/json"}
    if tenant.scheme == "standard":
        msg_id = "msg_" + secrets.token_hex(8)
        headers |= {
            "webhook-id": msg_id,
            "webhook-timestamp": str(now),
            "webhook-signature": sign_standard(key, msg_id, now, body),
        }
    else:
        headers["x-hub-signature-256"] = sign_hub(key, body)
        if tenant.timestamp_header:
            headers[tenant.timestamp_header] = str(now)
    return headers


@app.command()
def sign(
    body: Annotated[str, typer.Argument(help="The JSON body.")] = EXAMPLE,
    tenant: Annotated[str, typer.Option(help="Tenant whose secret signs.")] = DEFAULT_TENANT,
    url: Annotated[str, typer.Option(help="Where the curl command posts.")] = "http://127.0.0.1:8000/coze/webhook",
) -> None:
    """Print a ready-to-run signed curl command."""
    headers = _signed_headers(tenant, body.encode())
    parts = ["curl", "-sS", url] + [x for k, v in headers.items() for x in ("-H", f"{k}: {v}")] + ["-d", body]
    typer.echo(" ".join(shlex.quote(p) for p in parts))


@app.command()
def send(
    body: Annotated[str, typer.Argument(help="The JSON body.")] = EXAMPLE,
    tenant: Annotated[str, typer.Option(help="Tenant whose secret signs.")] = DEFAULT_TENANT,
    url: Annotated[str, typer.Option(help="Server base URL.")] = "http://127.0.0.1:8000",
) -> None:
    """Sign and POST one event to a running server; prints the status and the answer."""
    path = "/coze/webhook" if tenant == DEFAULT_TENANT else f"/webhooks/{tenant}"
    response = httpx.post(url.rstrip("/") + path, content=body.encode(), headers=_signed_headers(tenant, body.encode()))
    typer.echo(f"{response.status_code} {json.dumps(response.json())}")
    raise typer.Exit(0 if response.is_success else 1)
