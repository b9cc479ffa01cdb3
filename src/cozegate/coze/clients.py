"""One Coze client per Coze account: the process's own, and one per tenant that brings its own token.

``build_coze_clients(settings)`` makes the process's client from its credentials, or, without any,
points it at a simulator: ``cozegate sim`` when ``COZEGATE_COZE_BASE_URL`` names one, else the
built-in simulator, mounted by the gateway at ``SIMULATOR_MOUNT``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Callable
from typing import Protocol

from cozepy import AsyncTokenAuth
from cozepy.auth import Auth
from starlette.types import ASGIApp

from cozegate.coze.auth import CozeCredentials
from cozegate.coze.client import COZE_CN, COZE_COM, CozeClient
from cozegate.coze.retry import CozeRetryPolicy
from cozegate.settings import Settings

log = logging.getLogger(__name__)

SIMULATOR_MOUNT = "/_coze_sim"
SIMULATOR_TOKEN = "test-token"  # noqa: S105 - the simulator's default token, not a secret


class SimulatorNotExposedError(RuntimeError):
    """The built-in simulator would answer on an address other hosts reach."""


def is_loopback(host: str) -> bool:
    """Whether a listen address is reachable from this host only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: other hosts may resolve it to this one


def simulator_refusal(settings: Settings) -> str | None:
    """Why this process must not start (it would answer from the built-in simulator on an address other
    hosts reach), or None."""
    uses_simulator = settings.coze_token is None and settings.coze_jwt_client_id is None and not settings.coze_base_url
    if not uses_simulator or is_loopback(settings.host) or settings.coze_simulator_exposed:
        return None
    return (
        f"no Coze credentials and COZEGATE_HOST={settings.host} is not a loopback address: set "
        "COZEGATE_COZE_TOKEN (or the COZEGATE_COZE_JWT_* app), or COZEGATE_COZE_BASE_URL to a simulator you run, "
        "or COZEGATE_COZE_SIMULATOR_EXPOSED=true to serve the built-in simulator there on purpose"
    )


class CozeAccount(Protocol):
    """Whose Coze account a tenant talks to (a tenant's bot settings have these)."""

    @property
    def coze_token(self) -> str | None: ...
    @property
    def coze_base_url(self) -> str | None: ...


class CozeClients:
    """``for_account(token, base_url)``: the tenant's client (made once, reused); no token: the default."""

    def __init__(
        self, default: CozeClient, make: Callable[[str, str | None], CozeClient], allowed_base_urls: set[str]
    ) -> None:
        self.default = default
        self._make = make
        self._allowed = {url.rstrip("/") for url in allowed_base_urls}
        self._clients: dict[tuple[str, str | None], CozeClient] = {}

    def for_account(self, token: str | None, base_url: str | None = None) -> CozeClient:
        """Raises ``PermissionError`` for a base URL that is not Coze's (or the configured simulator's): a
        tenant's configuration must not be able to send a token anywhere else."""
        if token is None:
            return self.default
        if base_url is not None and base_url.rstrip("/") not in self._allowed:
            raise PermissionError(f"Coze base URL {base_url} is not allowed; use one of {sorted(self._allowed)}")
        key = (hashlib.sha256(token.encode()).hexdigest(), base_url)  # never the token itself as a key
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._make(token, base_url)
        return client

    def for_tenant(self, account: CozeAccount | None) -> CozeClient:
        """The client of a tenant's Coze account (the process's own if it brings none, or is unknown)."""
        if account is None:
            return self.default
        return self.for_account(account.coze_token, account.coze_base_url)

    async def aclose(self) -> None:
        for client in [self.default, *self._clients.values()]:
            await client.aclose()


def build_coze_clients(settings: Settings) -> tuple[CozeClients, ASGIApp | None]:
    """The process's Coze clients and, when they answer from the built-in simulator, its ASGI app (else
    ``None``): the gateway mounts it at ``SIMULATOR_MOUNT``."""
    credentials = CozeCredentials(
        token=settings.coze_token,
        jwt_client_id=settings.coze_jwt_client_id,
        jwt_private_key_file=settings.coze_jwt_private_key_file,
        jwt_public_key_id=settings.coze_jwt_public_key_id,
    )
    retry = CozeRetryPolicy(max_attempts=settings.coze_max_attempts)

    def client(auth: Auth, base_url: str) -> CozeClient:
        timeout = settings.coze_timeout_seconds
        return CozeClient(auth, base_url, timeout_seconds=timeout, stream_idle_seconds=timeout, retry=retry)

    simulator: ASGIApp | None = None
    if credentials.configured:
        base_url = settings.coze_base_url or COZE_COM
        default = client(credentials.build(base_url), base_url)
    elif settings.coze_base_url is not None:  # an external simulator (`cozegate sim`)
        base_url = settings.coze_base_url
        default = client(AsyncTokenAuth(SIMULATOR_TOKEN), base_url)
    else:
        from cozegate.coze.simulator import create_simulator_app

        refusal = simulator_refusal(settings)
        if refusal is not None:
            raise SimulatorNotExposedError(refusal)
        log.warning("no Coze credentials (COZEGATE_COZE_TOKEN): bots answer from the built-in simulator")
        base_url = f"http://127.0.0.1:{settings.port}{SIMULATOR_MOUNT}"
        default, simulator = client(AsyncTokenAuth(SIMULATOR_TOKEN), base_url), create_simulator_app()

    def tenant_client(token: str, tenant_base_url: str | None) -> CozeClient:
        return client(AsyncTokenAuth(token), tenant_base_url or base_url)

    return CozeClients(default, tenant_client, {COZE_COM, COZE_CN, base_url}), simulator
