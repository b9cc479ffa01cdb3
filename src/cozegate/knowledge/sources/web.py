"""Documents fetched over HTTP(S): the kind comes from the content type, else from the URL's suffix."""

from __future__ import annotations

import asyncio

import httpx

from cozegate.knowledge.extract import ExtractedText, ExtractionError, extract_text, kind_of
from cozegate.knowledge.sources.base import DocumentRef, SkipDocument

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


async def fetch_url(http: httpx.AsyncClient, url: str, title: str) -> ExtractedText:
    try:
        async with http.stream("GET", url, follow_redirects=True) as response:
            if response.status_code >= 400:
                raise SkipDocument(f"{url}: HTTP {response.status_code}")
            body = bytearray()
            async for part in response.aiter_bytes():
                body.extend(part)
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise SkipDocument(f"{url}: larger than {MAX_DOCUMENT_BYTES} bytes")
            content_type = response.headers.get("content-type", "").split(";")[0].strip() or None
    except httpx.HTTPError as exc:
        raise SkipDocument(f"{url}: {type(exc).__name__}: {exc}") from None
    kind = kind_of(url.split("?")[0], content_type) or kind_of(url.split("?")[0])
    if kind is None:
        raise SkipDocument(f"{url}: unsupported content type {content_type!r}")
    try:
        return await asyncio.to_thread(extract_text, bytes(body), kind, title)
    except ExtractionError as exc:
        raise SkipDocument(str(exc)) from None


class UrlsReader:
    """Fixed URLs: each is fetched on every pass; an unchanged text is recognised by its hash."""

    def __init__(self, urls: list[str], http: httpx.AsyncClient) -> None:
        self._urls = urls
        self._http = http

    async def list_documents(self) -> list[DocumentRef]:
        return [DocumentRef(url, url.rstrip("/").rsplit("/", 1)[-1] or url, None) for url in self._urls]

    async def fetch(self, ref: DocumentRef) -> ExtractedText:
        return await fetch_url(self._http, ref.key, ref.title)
