"""Knowledge sources: Coze knowledge bases, local folders, web pages."""

from cozegate.knowledge.sources.base import DocumentRef, SkipDocument, SourceReader

__all__ = ["DocumentRef", "SkipDocument", "SourceReader"]
