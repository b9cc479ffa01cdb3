"""Documents fetched over HTTP(S): the kind comes from the content type, else from the URL's suffix.

Addresses come from tenants' configuration and from Coze (a web-page document's address, which any
user of the tenant's Coze workspace can set), so by default only public addresses are fetched: a URL
whose host resolves to a loopback, private, link-local or otherwise non-global address is skipped,
at every redirect; an IPv6 address embedding an IPv4 address (IPv4-mapped, NAT64, 6to4) is judged by
the IPv4 address (``COZEGATE_KNOWLEDGE_FETCH_PRIVATE_ADDRESSES=true`` allows them, for an intranet
wiki). The check resolves the name before connecting; a DNS answer that changes in between is not
caught (use an egress proxy or network policy where that matters).

HTTP 404 and 410 raise ``DocumentGone`` (the document is removed from the index). Messages show URLs
without userinfo, query string and fragment, which may carry credentials.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
from urllib.parse import urljoin, urlsplit

import httpx

from cozegate.compliance.urls import display_url
from cozegate.knowledge.extract import ExtractedText, ExtractionError, extract_text, kind_of
from cozegate.knowledge.sources.base import MAX_FILE_BYTES, DocumentGone, DocumentRef, SkipDocument

MAX_REDIRECTS = 5
GONE_STATUSES = frozenset({404, 410})  # the document no longer exists: it is removed from the index

_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")  # URLs quoted in an error's text
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are the IPv4 address
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: may reach private IPv4 addresses


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` may be fetched from by default: a globally routable one. An IPv6 address that
    embeds an IPv4 address (IPv4-mapped, NAT64 well-known prefix, 6to4) is judged by the IPv4 address,
    since connecting to it may reach that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64_WELL_KNOWN:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded.is_global
        if address in _NAT64_LOCAL_USE or address in _IPV4_COMPATIBLE:
            return False  # translated to IPv4 addresses the network chooses, or the obsolete ::a.b.c.d
    return address.is_global


async def _check_address(url: str, allow_private: bool) -> None:
    shown = display_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise SkipDocument(f"{shown}: not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SkipDocument(f"{shown}: only http(s) URLs are fetched")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port or 443)
    except OSError as exc:
        raise SkipDocument(f"{shown}: the host does not resolve ({exc})") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not is_public_address(address):
            raise SkipDocument(
                f"{shown}: {parts.hostname} is a non-public address ({address}); "
                "set COZEGATE_KNOWLEDGE_FETCH_PRIVATE_ADDRESSES=true to fetch from it"
            )


def _declared_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


async def fetch_url(http: httpx.AsyncClient, url: str, title: str, *, allow_private: bool = False) -> ExtractedText:
    """The document at ``url``; raises ``DocumentGone`` on HTTP 404 / 410, ``SkipDocument`` on any other
    failure (messages show URLs without userinfo, query string and fragment)."""
    shown = display_url(url)
    target = url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                await _check_address(target, allow_private)
            except SkipDocument as exc:
                if target == url:
                    raise
                raise SkipDocument(f"{shown}: redirected to {exc}") from None
            async with http.stream("GET", target, follow_redirects=False) as response:
                if response.is_redirect and "location" in response.headers:
                    target = urljoin(target, response.headers["location"])
                    continue
                if response.status_code in GONE_STATUSES:
                    raise DocumentGone(f"{shown}: HTTP {response.status_code}")
                if response.status_code >= 400:
                    raise SkipDocument(f"{shown}: HTTP {response.status_code}")
                declared = _declared_length(response)
                if declared is not None and declared > MAX_FILE_BYTES:
                    raise SkipDocument(f"{shown}: larger than {MAX_FILE_BYTES} bytes ({declared} bytes announced)")
                body = bytearray()
                async for part in response.aiter_bytes():
                    body.extend(part)
                    if len(body) > MAX_FILE_BYTES:
                        raise SkipDocument(f"{shown}: larger than {MAX_FILE_BYTES} bytes")
                content_type = response.headers.get("content-type", "").split(";")[0].strip() or None
                break
        else:
            raise SkipDocument(f"{shown}: more than {MAX_REDIRECTS} redirects")
    except httpx.HTTPError as exc:
        detail = _URL_IN_TEXT.sub(lambda m: display_url(m.group()), str(exc))
        raise SkipDocument(f"{shown}: {type(exc).__name__}: {detail}") from None
    kind = kind_of(urlsplit(target).path, content_type)
    if kind is None:
        raise SkipDocument(f"{shown}: unsupported content type {content_type!r}")
    try:
        return await asyncio.to_thread(extract_text, bytes(body), kind, title)
    except ExtractionError as exc:
        raise SkipDocument(str(exc)) from None


class UrlsReader:
    """Fixed URLs: each is fetched on every pass; an unchanged text is recognised by its hash."""

    def __init__(self, urls: list[str], http: httpx.AsyncClient, *, allow_private: bool = False) -> None:
        self._urls = {document_key(url): url for url in urls}
        self._http = http
        self._allow_private = allow_private

    async def list_documents(self) -> list[DocumentRef]:
        refs = []
        for key in self._urls:
            shown = display_url(self._urls[key])  # the title is shown and indexed: no query string (a token?)
            refs.append(DocumentRef(key, shown.rstrip("/").rsplit("/", 1)[-1] or shown, None))
        return refs

    async def fetch(self, ref: DocumentRef) -> ExtractedText:
        return await fetch_url(self._http, self._urls[ref.key], ref.title, allow_private=self._allow_private)


def document_key(url: str) -> str:
    """A URL's document key, which search results show: without query, fragment and credentials (they may
    hold a token), plus a short hash of the whole URL when those made it differ."""
    shown = display_url(url)
    return shown if shown == url else f"{shown}#{hashlib.sha256(url.encode()).hexdigest()[:12]}"
