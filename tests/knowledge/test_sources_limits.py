"""The size limit of documents read (``MAX_FILE_BYTES``): a larger local file or download is skipped with a
reason, before it is read whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cozegate.knowledge.sources.base import MAX_FILE_BYTES, SkipDocument
from cozegate.knowledge.sources.folder import FolderReader
from cozegate.knowledge.sources.web import fetch_url

URL = "https://docs.example.com/big.txt"


async def test_a_folder_file_larger_than_the_limit_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "small.md").write_text("# Small\n\nFits.")
    with (tmp_path / "guides" / "huge.txt").open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: no data written
    reader = FolderReader(tmp_path)
    refs = {ref.key: ref for ref in await reader.list_documents()}
    assert set(refs) == {"guides/huge.txt", "guides/small.md"}
    with pytest.raises(SkipDocument) as raised:
        await reader.fetch(refs["guides/huge.txt"])
    assert str(raised.value) == f"guides/huge.txt: larger than {MAX_FILE_BYTES} bytes (the largest file read)"
    assert "Fits." in (await reader.fetch(refs["guides/small.md"])).markdown


class _Body(httpx.AsyncByteStream):
    """``chunks`` chunks of ``size`` bytes; counts the chunks read."""

    def __init__(self, chunks: int, size: int = 1024 * 1024) -> None:
        self.chunks, self.size, self.read = chunks, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.read += 1
            yield b"a" * self.size


async def test_a_download_announced_larger_than_the_limit_is_refused_before_reading() -> None:
    body = _Body(1)
    headers = {"content-type": "text/plain", "content-length": str(MAX_FILE_BYTES + 1)}
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, headers=headers, stream=body))
    ) as client:
        with pytest.raises(SkipDocument, match=f"larger than {MAX_FILE_BYTES} bytes"):
            await fetch_url(client, URL, "big", allow_private=True)
    assert body.read == 0


async def test_a_download_streaming_past_the_limit_is_cut_off() -> None:
    body = _Body(MAX_FILE_BYTES // (1024 * 1024) + 10)  # no content-length: only the stream tells
    headers = {"content-type": "text/plain"}
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, headers=headers, stream=body))
    ) as client:
        with pytest.raises(SkipDocument, match=f"larger than {MAX_FILE_BYTES} bytes"):
            await fetch_url(client, URL, "big", allow_private=True)
    assert body.read == MAX_FILE_BYTES // body.size + 1  # stopped at the first chunk past the limit
