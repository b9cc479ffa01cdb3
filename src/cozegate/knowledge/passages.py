"""``Passage``: one retrieved chunk with its origin, and how to name that origin."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Passage:
    chunk_id: str
    score: float
    text: str
    title: str
    section: str
    source: str
    document: str
    position: int

    def as_dict(self) -> dict[str, object]:
        return {
            "chunk_id": self.chunk_id,
            "score": round(self.score, 6),
            "text": self.text,
            "title": self.title,
            "section": self.section,
            "source": self.source,
            "document": self.document,
            "position": self.position,
        }


def heading(title: str, section: str) -> str:
    """Where a passage comes from: its document's title and its section (which may start with the title)."""
    if not section or section == title:
        return title
    return section if section.startswith(f"{title} > ") else f"{title} > {section}"
