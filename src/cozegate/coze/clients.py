"""One Coze client per Coze account: the process's own, and one per tenant that brings its own token."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cozegate.coze.client import CozeClient


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

    async def aclose(self) -> None:
        for client in [self.default, *self._clients.values()]:
            await client.aclose()
