"""A local folder of Markdown, text, HTML and PDF files (recursively; hidden files are ignored; files larger
than ``MAX_FILE_BYTES`` are skipped)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from cozegate.knowledge.extract import ExtractedText, ExtractionError, extract_text, kind_of
from cozegate.knowledge.sources.base import MAX_FILE_BYTES, DocumentRef, SkipDocument


class FolderReader:
    def __init__(self, root: Path) -> None:
        self._root = root

    async def list_documents(self) -> list[DocumentRef]:
        return await asyncio.to_thread(self._list)

    def _list(self) -> list[DocumentRef]:
        if not self._root.is_dir():
            raise FileNotFoundError(f"knowledge folder {self._root} does not exist (check the source's `path`)")
        refs = []
        for path in sorted(self._root.rglob("*")):
            relative = path.relative_to(self._root)
            if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                continue
            if kind_of(path.name) is None:
                continue
            stat = path.stat()
            refs.append(DocumentRef(relative.as_posix(), path.stem, f"{stat.st_mtime_ns}:{stat.st_size}"))
        return refs

    async def fetch(self, ref: DocumentRef) -> ExtractedText:
        return await asyncio.to_thread(self._read, ref)

    def _read(self, ref: DocumentRef) -> ExtractedText:
        path = self._root / ref.key
        kind = kind_of(path.name)
        if kind is None:
            raise SkipDocument(f"{ref.key}: unsupported file type")
        too_large = f"{ref.key}: larger than {MAX_FILE_BYTES} bytes (the largest file read)"
        try:
            with path.open("rb") as fh:
                if os.fstat(fh.fileno()).st_size > MAX_FILE_BYTES:
                    raise SkipDocument(too_large)
                data = fh.read(MAX_FILE_BYTES + 1)  # capped: the file may grow after the check
        except FileNotFoundError:
            raise SkipDocument(f"{ref.key}: removed while syncing") from None
        if len(data) > MAX_FILE_BYTES:
            raise SkipDocument(too_large)
        try:
            return extract_text(data, kind, ref.title)
        except ExtractionError as exc:
            raise SkipDocument(str(exc)) from None
