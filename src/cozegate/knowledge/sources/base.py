"""What a knowledge source offers the sync: a listing of its documents, and each document's text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cozegate.knowledge.extract import ExtractedText


@dataclass(frozen=True)
class DocumentRef:
    key: str  # stable within the source: a relative path, a URL, a Coze document id
    title: str
    fingerprint: str | None  # changes whenever the document may have changed; None: only its text tells
    modified_at: float | None = None  # the source's modification time, when it has one (see ``sync``)


class SkipDocument(Exception):
    """This document cannot be indexed now (the reason is counted and reported, the sync goes on)."""


class DocumentGone(SkipDocument):
    """The document no longer exists at its origin (HTTP 404 / 410): it is removed from the index."""


class IncompleteListing(Exception):
    """The listing may have missed documents (the source changed while it was read): the pass indexes
    ``refs`` but deletes nothing, since a document missing from it may still exist."""

    def __init__(self, refs: list[DocumentRef], reason: str) -> None:
        super().__init__(reason)
        self.refs = refs


MAX_FILE_BYTES = 50 * 1024 * 1024  # the largest document read (a download, a local file)


class SourceReader(Protocol):
    async def list_documents(self) -> list[DocumentRef]:
        """Every document the source holds now (a document missing here is deleted from the index);
        raises ``IncompleteListing`` when it cannot be sure it saw them all."""

    async def fetch(self, ref: DocumentRef) -> ExtractedText:
        """The document's text; raises ``SkipDocument`` when it cannot be had (other errors fail the pass)."""
