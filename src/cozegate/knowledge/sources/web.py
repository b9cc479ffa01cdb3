"""Documents fetched over HTTP(S): the kind comes from the content type, else from the URL's suffix.

Addresses come from tenants' configuration and from Coze (a web-page document's address, which any
user of the tenant's Coze workspace can set), so by default only public addresses are fetched: a URL
whose host resolves to a loopback, private, link-local or otherwise non-global address is skipped,
at every redirect (``COZEGATE_KNOWLEDGE_FETCH_PRIVATE_ADDRESSES=true`` allows them, for an intranet
wiki). The check resolves the name before connecting; a DNS answer that changes in between is not
caught (use an egress proxy or network policy where that matters).
"""

from __future__ import annotations

import asyncio
import ipaddress
from urllib.parse import urljoin, urlsplit

import httpx

from cozegate.knowledge.extract import ExtractedText, ExtractionError, extract_text, kind_of
from cozegate.knowledge.sources.base import DocumentRef, SkipDocument

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
MAX_REDIRECTS = 5


async def _check_address(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SkipDocument(f"{url}: only http(s) URLs are fetched")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443)
    except OSError as exc:
        raise SkipDocument(f"{url}: the host does not resolve ({exc})") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise SkipDocument(
                f"{url}: {parts.hostname} is a non-public address ({address}); "
                "set COZEGATE_KNOWLEDGE_FETCH_PRIVATE_ADDRESSES=true to fetch from it"
            )


async def fetch_url(http: httpx.AsyncClient, url: str, title: str, *, allow_private: bool = False) -> ExtractedText:
    target = url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            await _check_address(target, allow_private)
            async with http.stream("GET", target, follow_redirects=False) as response:
                if response.is_redirect and "location" in response.headers:
                    target = urljoin(target, response.headers["location"])
                    continue
                if response.status_code >= 400:
                    raise SkipDocument(f"{url}: HTTP {response.status_code}")
                body = bytearray()
                async for part in response.aiter_bytes():
                    body.extend(part)
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise SkipDocument(f"{url}: larger than {MAX_DOCUMENT_BYTES} bytes")
                content_type = response.headers.get("content-type", "").split(";")[0].strip() or None
                break
        else:
            raise SkipDocument(f"{url}: more than {MAX_REDIRECTS} redirects")
    except httpx.HTTPError as exc:
        raise SkipDocument(f"{url}: {type(exc).__name__}: {exc}") from None
    kind = kind_of(target.split("?")[0], content_type)
    if kind is None:
        raise SkipDocument(f"{url}: unsupported content type {content_type!r}")
    try:
        return await asyncio.to_thread(extract_text, bytes(body), kind, title)
    except ExtractionError as exc:
        raise SkipDocument(str(exc)) from None


class UrlsReader:
    """Fixed URLs: each is fetched on every pass; an unchanged text is recognised by its hash."""

    def __init__(self, urls: list[str], http: httpx.AsyncClient, *, allow_private: bool = False) -> None:
        self._urls = urls
        self._http = http
        self._allow_private = allow_private

    async def list_documents(self) -> list[DocumentRef]:
        return [DocumentRef(url, url.rstrip("/").rsplit("/", 1)[-1] or url, None) for url in self._urls]

    async def fetch(self, ref: DocumentRef) -> ExtractedText:
        return await fetch_url(self._http, ref.key, ref.title, allow_private=self._allow_private)
