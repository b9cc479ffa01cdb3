"""Fetching web documents: only public addresses unless allowed (Coze users choose web documents'
addresses), redirects checked at every hop, errors turned into skipped documents with a reason."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cozegate.knowledge.sources.base import SkipDocument
from cozegate.knowledge.sources.web import fetch_url
from tests.knowledge.conftest import WebSite


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def test_private_addresses_are_refused_by_default(http: httpx.AsyncClient, website: WebSite) -> None:
    website.pages["page.html"] = ("text/html", "<h1>Internal</h1><p>secret</p>")
    with pytest.raises(SkipDocument, match="non-public address"):
        await fetch_url(http, website.url_of("page.html"), "page")
    for url in ("http://169.254.169.254/latest/meta-data", "http://[::1]:1/x", "http://10.0.0.1/x"):
        with pytest.raises(SkipDocument, match="non-public address"):
            await fetch_url(http, url, "metadata")
    assert website.fetches == []  # refused before any connection
    with pytest.raises(SkipDocument, match="only http"):
        await fetch_url(http, "file:///etc/passwd", "passwd")


async def test_allowed_private_fetch_follows_redirects_and_reads_the_kind(
    http: httpx.AsyncClient, website: WebSite
) -> None:
    website.pages["old"] = ("redirect", website.url_of("new.html"))
    website.pages["new.html"] = ("text/html; charset=utf-8", "<title>New</title><h1>New</h1><p>Moved here.</p>")
    website.pages["notes"] = ("text/markdown", "# Notes\n\nPlain notes.")
    page = await fetch_url(http, website.url_of("old"), "old", allow_private=True)
    assert page.title == "New"
    assert "Moved here." in page.markdown
    assert website.fetches == ["old", "new.html"]
    assert (await fetch_url(http, website.url_of("notes"), "notes", allow_private=True)).markdown.startswith("# Notes")
    with pytest.raises(SkipDocument, match="HTTP 404"):
        await fetch_url(http, website.url_of("missing.html"), "missing", allow_private=True)
    website.pages["loop"] = ("redirect", website.url_of("loop"))
    with pytest.raises(SkipDocument, match="redirects"):
        await fetch_url(http, website.url_of("loop"), "loop", allow_private=True)
    website.pages["image.png"] = ("image/png", "xx")
    with pytest.raises(SkipDocument, match="unsupported content type"):
        await fetch_url(http, website.url_of("image.png"), "image", allow_private=True)
