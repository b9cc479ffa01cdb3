"""How a plugin recognises Coze: a service token in a header or query parameter, or a bearer token.

Coze's ``service_http`` auth sends the configured token verbatim in the header (or query parameter)
named by the plugin's ``key``. Several tokens may be valid at once, which is how a token is rotated:
add the new one, switch Coze over, remove the old one. Tokens come from code, an environment variable
(comma-separated) or a file (one per line, re-read when it changes, so rotation needs no restart).
Every presented token is compared with every valid one in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote_to_bytes

from cozegate.http.headers import RawHeaders

Location = Literal["header", "query"]


class CredentialsMissingError(Exception):
    pass


class CredentialsInvalidError(Exception):
    pass


class TokenSourceError(RuntimeError):
    """The configured tokens cannot be read; the message says what to set."""


class _TokenSource:
    def tokens(self) -> Sequence[bytes]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class _StaticTokens(_TokenSource):
    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = tuple(t.encode() for t in tokens if t)

    def tokens(self) -> Sequence[bytes]:
        if not self._tokens:
            raise TokenSourceError("no token given")
        return self._tokens

    def describe(self) -> str:
        return f"{len(self._tokens)} token(s) set in code"


class _EnvTokens(_TokenSource):
    def __init__(self, variable: str) -> None:
        self._variable = variable

    def tokens(self) -> Sequence[bytes]:
        raw = os.environ.get(self._variable, "")
        tokens = tuple(t.strip().encode() for t in raw.split(",") if t.strip())
        if not tokens:
            raise TokenSourceError(f"set {self._variable} to the plugin's service token (several: comma-separated)")
        return tokens

    def describe(self) -> str:
        return f"environment variable {self._variable}"


class _FileTokens(_TokenSource):
    """One token per line (``#`` comments); re-read at most once a second when the file changed (its
    modification time, size or inode, so an editor's replace-by-rename is seen too)."""

    def __init__(self, path: str | Path, check_every: float = 1.0) -> None:
        self._path = Path(path)
        self._check_every = check_every
        self._checked_at = float("-inf")
        self._identity: tuple[int, int, int] | None = None
        self._tokens: tuple[bytes, ...] = ()

    def tokens(self) -> Sequence[bytes]:
        now = time.monotonic()
        if now - self._checked_at >= self._check_every:
            self._checked_at = now
            self._reload()
        if not self._tokens:
            raise TokenSourceError(f"write the plugin's service token into {self._path} (one per line)")
        return self._tokens

    def _reload(self) -> None:
        try:
            stat = self._path.stat()
            identity = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if identity == self._identity:
                return
            lines = self._path.read_text(encoding="utf-8").splitlines()
        except OSError:
            self._tokens, self._identity = (), None
            return
        self._identity = identity
        self._tokens = tuple(s.encode() for s in (line.strip() for line in lines) if s and not s.startswith("#"))

    def describe(self) -> str:
        return f"file {self._path}"


def _source(tokens: Iterable[str] | None, env: str | None, file: str | Path | None) -> _TokenSource:
    given = [x for x in (tokens, env, file) if x is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of tokens=, env= or file=")
    if tokens is not None:
        if isinstance(tokens, str):
            raise TypeError("tokens= takes a list of tokens")
        return _StaticTokens(tokens)
    if env is not None:
        return _EnvTokens(env)
    return _FileTokens(file)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TokenAuth:
    """A token Coze presents in ``location`` under ``name`` (value ``prefix + token``)."""

    source: _TokenSource = field(repr=False)
    location: Location
    name: str
    prefix: str = ""

    @property
    def is_bearer(self) -> bool:
        return self.prefix == "Bearer "

    def check_configured(self) -> None:
        """Fail now (at start) rather than on the first call if no token can be read."""
        self.source.tokens()

    def verify(self, headers: RawHeaders, query_string: bytes) -> None:
        presented = self._presented(headers, query_string)
        if presented is None:
            raise CredentialsMissingError(self._where())
        valid = self.source.tokens()
        matched = False
        for token in valid:  # no early exit: the time taken does not tell which token matched
            matched |= hmac.compare_digest(presented, token)
        if not matched:
            raise CredentialsInvalidError(self._where())

    def _presented(self, headers: RawHeaders, query_string: bytes) -> bytes | None:
        if self.location == "query":
            return _query_value(query_string, self.name)
        value = headers.get(self.name.lower())
        if value is None:
            return None
        if self.prefix:
            if value[: len(self.prefix)].lower() != self.prefix.lower():
                return b""
            value = value[len(self.prefix) :]
        return value.strip().encode("latin-1")  # the header's own bytes (RawHeaders decoded them as latin-1)

    def _where(self) -> str:
        if self.is_bearer:
            return "the Authorization header (Bearer <token>)"
        return f"the {self.location} parameter {self.name!r}" if self.location == "query" else f"header {self.name!r}"

    def describe(self) -> str:
        return f"{self._where()}, tokens from {self.source.describe()}"


def _query_value(query_string: bytes, name: str) -> bytes | None:
    """The raw bytes of the first ``name=...`` in the query (percent-decoded, ``+`` as space)."""
    for pair in query_string.split(b"&"):
        key, _, value = pair.partition(b"=")
        if unquote_to_bytes(key.replace(b"+", b" ")) == name.encode():
            return unquote_to_bytes(value.replace(b"+", b" "))
    return None


def ServiceToken(
    *,
    tokens: Iterable[str] | None = None,
    env: str | None = None,
    file: str | Path | None = None,
    header: str | None = None,
    query: str | None = None,
) -> TokenAuth:
    """Coze's ``service_http`` auth: the token verbatim in a header (default ``X-Api-Key``) or query parameter."""
    if header is not None and query is not None:
        raise ValueError("give header= or query=, not both")
    location: Location = "query" if query is not None else "header"
    return TokenAuth(_source(tokens, env, file), location, query or header or "X-Api-Key")


def BearerToken(
    *, tokens: Iterable[str] | None = None, env: str | None = None, file: str | Path | None = None
) -> TokenAuth:
    """``Authorization: Bearer <token>`` (in Coze: key ``Authorization``, service token ``Bearer <token>``)."""
    return TokenAuth(_source(tokens, env, file), "header", "Authorization", prefix="Bearer ")


class IpAllowList:
    """Client addresses allowed to call; the address is the ASGI client (the server's --proxy-headers
    setting decides whether a trusted proxy's X-Forwarded-For replaces it)."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)
        if not self.networks:
            raise ValueError("an IP allow-list needs at least one address or network")

    def allows(self, address: str | None) -> bool:
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:10.1.2.3, as a dual-stack listener reports an IPv4 client
        return any(ip in network for network in self.networks)
