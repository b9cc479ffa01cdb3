"""Fetching web documents: only public addresses unless allowed (Coze users choose web documents'
addresses), redirects checked at every hop, errors turned into skipped documents with a reason (a
document gone at its origin is told apart; URLs in reasons never show credentials or query strings)."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cozegate.knowledge.sources.base import DocumentGone, SkipDocument
from cozegate.knowledge.sources.web import UrlsReader, display_url, fetch_url, is_public_address
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
    with pytest.raises(DocumentGone, match="HTTP 404"):
        await fetch_url(http, website.url_of("missing.html"), "missing", allow_private=True)
    website.pages["loop"] = ("redirect", website.url_of("loop"))
    with pytest.raises(SkipDocument, match="redirects"):
        await fetch_url(http, website.url_of("loop"), "loop", allow_private=True)
    website.pages["image.png"] = ("image/png", "xx")
    with pytest.raises(SkipDocument, match="unsupported content type"):
        await fetch_url(http, website.url_of("image.png"), "image", allow_private=True)


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("status", "gone"), [(404, True), (410, True), (400, False), (403, False), (429, False), (500, False), (503, False)]
)
async def test_only_404_and_410_mean_the_document_is_gone(status: int, gone: bool) -> None:
    async with mock_client(lambda request: httpx.Response(status)) as client:
        with pytest.raises(SkipDocument, match=f"HTTP {status}") as raised:
            await fetch_url(client, "https://docs.example.com/page.html", "page", allow_private=True)
    assert isinstance(raised.value, DocumentGone) is gone


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://docs.example.com/a/b.pdf?token=SECRET#part", "https://docs.example.com/a/b.pdf"),
        ("https://user:SECRET@docs.example.com:8443/a?x=1", "https://docs.example.com:8443/a"),
        ("http://[2001:db8::1]:8080/wiki;params?sig=SECRET", "http://[2001:db8::1]:8080/wiki;params"),
        ("http://SECRET@example.com", "http://example.com"),
        ("file:///etc/passwd", "file:///etc/passwd"),
        ("http://[::1/x?SECRET", "<invalid URL>"),
    ],
)
def test_display_url_keeps_scheme_host_port_and_path_only(url: str, shown: str) -> None:
    assert display_url(url) == shown


SECRET_URL = "https://reader:PASSWORD@docs.example.com/files/doc?token=SECRET&x=1#TAIL"  # no suffix: the type decides


def _hidden(message: str) -> bool:
    return not any(word in message for word in ("PASSWORD", "SECRET", "TAIL", "reader"))


@pytest.mark.parametrize(
    "respond",
    [
        pytest.param(lambda request: httpx.Response(404), id="gone"),
        pytest.param(lambda request: httpx.Response(500), id="server-error"),
        pytest.param(lambda request: httpx.Response(200, headers={"content-type": "image/png"}), id="content-type"),
        pytest.param(lambda request: httpx.Response(200, headers={"content-length": str(2**40)}), id="too-large"),
        pytest.param(lambda request: httpx.Response(302, headers={"location": str(request.url)}), id="redirects"),
        pytest.param(
            lambda request: httpx.Response(302, headers={"location": "ftp://u:PASSWORD@x/?SECRET"}), id="redirect-ftp"
        ),
    ],
)
async def test_reasons_show_urls_without_credentials_query_or_fragment(
    respond: Callable[[httpx.Request], httpx.Response],
) -> None:
    async with mock_client(respond) as client:
        with pytest.raises(SkipDocument) as raised:
            await fetch_url(client, SECRET_URL, "doc", allow_private=True)
    message = str(raised.value)
    assert message.startswith("https://docs.example.com/files/doc: "), message
    assert _hidden(message), message


async def test_transport_errors_and_refused_addresses_hide_tokens_too() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    async with mock_client(fail) as client:
        with pytest.raises(SkipDocument, match="ConnectError") as raised:
            await fetch_url(client, SECRET_URL, "doc", allow_private=True)
        assert _hidden(str(raised.value)), raised.value
        for url in ("http://u:PASSWORD@127.0.0.1/x?token=SECRET#TAIL", "ftp://u:PASSWORD@example.com/?SECRET"):
            with pytest.raises(SkipDocument) as raised:
                await fetch_url(client, url, "doc")
            assert _hidden(str(raised.value)), raised.value


async def test_url_titles_leave_the_query_string_out() -> None:
    urls = ["https://docs.example.com/files/report.pdf?token=SECRET", "https://x.example/?a=SECRET"]
    async with httpx.AsyncClient() as client:
        refs = await UrlsReader(urls, client).list_documents()
    assert [ref.title for ref in refs] == ["report.pdf", "x.example"]
    assert all("SECRET" not in ref.key for ref in refs)  # keys are shown in search results


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("2001:4860:4860::8888", True),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:8.8.8.8", True),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("64:ff9b::808:808", True),
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b::a01:203", False),
        ("2002:808:808::1", True),
        ("2002:7f00:1::1", False),
        ("2002:a9fe:a9fe::", False),
        ("2002:c0a8:101:1::1", False),
    ],
)
def test_addresses_embedding_ipv4_are_judged_by_the_ipv4_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@given(st.ip_addresses(v=4))
def test_every_ipv4_embedding_is_as_public_as_the_ipv4_address(v4: ipaddress.IPv4Address) -> None:
    embeddings = [
        ipaddress.IPv6Address(f"::ffff:{v4}"),
        ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(v4)),
        ipaddress.IPv6Address((0x2002 << 112) | (int(v4) << 80) | 1),
    ]
    for address in embeddings:
        assert is_public_address(address) is v4.is_global, address


async def test_embedded_private_ipv4_is_refused_before_connecting() -> None:
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, text="hello", headers={"content-type": "text/plain"})

    async with mock_client(record) as client:
        for host in ("[64:ff9b::7f00:1]", "[64:ff9b::a9fe:a9fe]", "[2002:7f00:1::1]", "[::ffff:10.0.0.1]"):
            with pytest.raises(SkipDocument, match="non-public address"):
                await fetch_url(client, f"http://{host}/latest/meta-data", "metadata")
    assert requests == []


async def test_document_keys_of_urls_keep_tokens_out(http: httpx.AsyncClient, website: WebSite) -> None:
    from cozegate.knowledge.sources.web import UrlsReader, document_key

    secret_url = website.url_of("page.html") + "?token=s3cr3t-value"
    website.pages["page.html"] = ("text/html", "<h1>Page</h1><p>Body.</p>")
    reader = UrlsReader([secret_url, website.url_of("page.html")], http, allow_private=True)
    refs = await reader.list_documents()
    assert [ref.key for ref in refs] == [document_key(secret_url), website.url_of("page.html")]
    assert all("s3cr3t" not in ref.key and "s3cr3t" not in ref.title for ref in refs)
    assert refs[0].key != refs[1].key
    assert (await reader.fetch(refs[0])).title == "Page"


@pytest.mark.parametrize("address", ["64:ff9b:1::a00:1", "64:ff9b:1::808:808", "::a00:1", "::808:808"])
def test_local_use_nat64_and_ipv4_compatible_addresses_are_refused(address: str) -> None:
    import ipaddress

    from cozegate.knowledge.sources.web import is_public_address

    assert not is_public_address(ipaddress.ip_address(address))
