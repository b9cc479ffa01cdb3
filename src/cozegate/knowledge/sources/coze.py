"""A Coze knowledge base, through the Coze OpenAPI with the tenant's account (cozepy).

The OpenAPI lists a knowledge base's documents with their name, size, character count, status and
update time (the fingerprint), and, through the processing-progress call, the address of web-page
documents. It offers no call that returns the text of an uploaded file, so:

- web pages (``source_type`` 1) are fetched from their address (public addresses only, unless allowed:
  see ``web``);
- uploaded files are read from ``origin_dir``, by document name, when the source names that folder;
  otherwise they are skipped, and counted as such in the summary;
- documents still processing (status 0) or failed (9) are skipped until they are done;
- pages are read by number, so the listing is compared with the total Coze reports; if documents
  were missed (some deleted while reading), it is read again, and after three tries the pass deletes
  nothing (a document missing from the listing may still exist).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from cozegate.coze import CozeClient
from cozegate.knowledge.extract import ExtractedText, ExtractionError, extract_text, kind_of
from cozegate.knowledge.sources.base import MAX_FILE_BYTES, DocumentRef, IncompleteListing, SkipDocument
from cozegate.knowledge.sources.web import fetch_url

WEB_PAGE = 1
DONE = 1
LISTING_ATTEMPTS = 3  # pages are read by number: a document deleted meanwhile shifts the next one out of view


class CozeDatasetReader:
    def __init__(
        self,
        coze: CozeClient,
        dataset_id: str,
        http: httpx.AsyncClient,
        origin_dir: Path | None = None,
        *,
        allow_private: bool = False,
    ) -> None:
        self._allow_private = allow_private
        self._coze = coze
        self._dataset_id = dataset_id
        self._http = http
        self._origin_dir = origin_dir
        self._kinds: dict[str, tuple[int, int, str]] = {}  # document id → (source type, status, name)

    async def list_documents(self) -> list[DocumentRef]:
        for _ in range(LISTING_ATTEMPTS):
            listed, total = await self._coze.list_documents(self._dataset_id)
            documents = list({doc.document_id: doc for doc in listed}.values())
            if total is None or len(documents) >= total:
                return self._refs(documents)
        refs = self._refs(documents)
        raise IncompleteListing(refs, f"Coze listed {len(documents)} of {total} documents {LISTING_ATTEMPTS} times")

    def _refs(self, documents: list[Any]) -> list[DocumentRef]:
        refs = []
        for doc in documents:
            status = int(doc.status)
            self._kinds[doc.document_id] = (int(doc.source_type), status, doc.name)
            fingerprint = f"{doc.update_time}:{doc.size}:{doc.char_count}:{doc.slice_count}:{status}"
            refs.append(DocumentRef(doc.document_id, doc.name, fingerprint, float(doc.update_time)))
        return refs

    async def fetch(self, ref: DocumentRef) -> ExtractedText:
        source_type, status, name = self._kinds.get(ref.key, (0, DONE, ref.title))
        if status != DONE:
            raise SkipDocument(f"{name}: Coze is still processing it" if status == 0 else f"{name}: Coze failed it")
        if source_type == WEB_PAGE:
            progress = await self._coze.document_progress(self._dataset_id, [ref.key])
            url = next((p.url for p in progress if p.document_id == ref.key and p.url), None)
            if url is None:
                raise SkipDocument(f"{name}: Coze reports no address for this web page")
            return await fetch_url(self._http, url, name, allow_private=self._allow_private)
        if self._origin_dir is None:
            raise SkipDocument(f"{name}: the Coze OpenAPI does not return uploaded files; set the source's origin_dir")
        return await asyncio.to_thread(self._read_origin, name)

    def _read_origin(self, name: str) -> ExtractedText:
        assert self._origin_dir is not None
        path = (self._origin_dir / name).resolve()
        if not path.is_relative_to(self._origin_dir.resolve()) or not path.is_file():
            raise SkipDocument(f"{name}: not found in {self._origin_dir}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SkipDocument(f"{name}: larger than {MAX_FILE_BYTES} bytes")
        kind = kind_of(path.name)
        if kind is None:
            raise SkipDocument(f"{name}: unsupported file type")
        try:
            return extract_text(path.read_bytes(), kind, Path(name).stem)
        except ExtractionError as exc:
            raise SkipDocument(str(exc)) from None
