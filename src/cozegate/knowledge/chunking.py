"""Heading- and sentence-aware chunking of Markdown with sentence overlap.

Structure comes from ``markdown-it-py`` (CommonMark block parser, inline parsing switched off for speed): top-level
ATX headings (``#`` .. ``######``) start sections, fenced code blocks (`````` ``` `````` / ``~~~``, also nested in
lists or quotes) are found by the parser, so a ``# comment`` inside a fence is never taken for a heading.

Sentences are split by a compact regular expression rather than a library. Measured alternatives: ``pysbd`` (the
best-known rule-based splitter with Chinese support) needs ~0.17 s per 50 KB of English (≈1.6 s for
``pydoc_data.topics`` alone), hasn't been released since 2021, attaches Chinese closing quotes to the *next*
sentence (``“你好。”`` → ``“你好。`` | ``”…``) and splits after "Mr." in its Chinese mode; NLTK's Punkt is
English-only and needs model data. The regex handles what matters for retrieval chunks:

* Chinese/Japanese terminators ``。！？；…`` (and full-width/half-width forms) end a sentence immediately, with
  trailing closing quotes/brackets ``”’」』）】》〉"')]`` attached;
* ASCII ``. ! ?`` end a sentence when followed by whitespace, the end of the text or a CJK character, except after
  common abbreviations (Mr., Dr., vs., ...), dotted abbreviations (e.g., i.e., U.S.), single-letter initials,
  ordered-list markers ("1. ") and when the next word starts lowercase; decimals like 3.14 never split;
* blank lines (paragraph breaks) always end a sentence; single newlines do not (PDF text is hard-wrapped).

The splitter is lossless: every sentence is a slice of the input, so chunk text is always a verbatim slice of the
document (plus ``"\\n\\n"`` between blocks).
"""  # noqa: RUF002

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = ["Chunk", "chunk_markdown", "split_sentences"]


@dataclass(frozen=True)
class Chunk:
    """One retrieval chunk.

    ``text`` never contains the heading lines; ``section`` is the heading path ("A > B", "" before any heading).
    The first ``overlap`` characters of ``text`` repeat the end of the previous chunk of the same section
    (``text[overlap:]`` is new material; 0 for the first chunk of a section).
    """

    text: str
    section: str
    position: int
    overlap: int = 0


# --------------------------------------------------------------------------------------------------------------
# Sentence splitting

_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# Ideographic full stop, full-width ! ? ;, ellipsis and the half-width ideographic full stop.
_CJK_END = "\u3002\uff01\uff1f\uff1b\u2026\uff61"
_CLOSERS = "\"'\u201d\u2019\u300d\u300f\uff09\u3011\u300b\u3009)\\]"
_BOUNDARY = re.compile(rf"[{_CJK_END}]+[{_CLOSERS}]*|[.!?]+[{_CLOSERS}]*(?=\s|$|[{_CJK_CHARS}])")
_PARA_BREAK = re.compile(r"\n\s*\n\s*")  # a blank (or whitespace-only) line
_NON_SPACE = re.compile(r"\S")
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "cf", "al", "fig", "figs", "eq", "approx", "viz", "ca"}
)
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")


def _no_break_after_dots(text: str, start: int, end: int) -> bool:
    """Whether the dots ``text[start:end]`` (one, or an ellipsis) do not end a sentence."""
    nxt = _NON_SPACE.search(text, end)
    if nxt is not None and "a" <= nxt.group() <= "z":
        return True  # the next word starts lowercase
    if end - start > 1:
        return False
    j = start
    while j > max(0, start - 32) and text[j - 1].isascii() and (text[j - 1].isalnum() or text[j - 1] == "."):
        j -= 1
    token = text[j:start]
    if token.isalpha() and (len(token) == 1 or token.lower() in _ABBREVIATIONS):
        return True
    if _DOTTED.fullmatch(token):
        return True
    if not token.isdigit():
        return False
    # "1. item": an ordered-list marker at the start of a line
    while j > 0 and text[j - 1] in " \t":
        j -= 1
    return j == 0 or text[j - 1] == "\n"


def _sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the sentences of ``text[start:end]`` (stripped, never empty), in order."""
    if end is None:
        end = len(text)
    spans: list[tuple[int, int]] = []
    cut = start
    para_start = start
    breaks = [(m.start(), m.end()) for m in _PARA_BREAK.finditer(text, start, end)]
    breaks.append((end, end))
    for para_end, next_start in breaks:
        for m in _BOUNDARY.finditer(text, para_start, para_end):
            if m.group().strip(".") == "" and _no_break_after_dots(text, m.start(), m.end()):
                continue
            _add_span(text, cut, m.end(), spans)
            cut = m.end()
        _add_span(text, cut, para_end, spans)
        cut = para_start = next_start
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))


def split_sentences(text: str) -> list[str]:
    """Split Chinese, English or mixed text into sentences (stripped, lossless apart from the whitespace between)."""
    return [text[s:e] for s, e in _sentence_spans(text)]


# --------------------------------------------------------------------------------------------------------------
# Hard splitting of over-long sentences / lines

# Preferred cut points, best first: a newline; full-width comma, colon, semicolon, the ideographic comma and ASCII
# , ; : (not inside numbers like 1,000); any whitespace.
_SOFT_BREAKS = (
    re.compile(r"\n"),
    re.compile(r"[\uff0c\u3001\uff1a\uff1b,;:](?!\d)"),
    re.compile(r"\s"),
)


def _last_break(text: str, lo: int, hi: int) -> int | None:
    """Cut position (exclusive end of the piece) at the best soft break in ``text[lo:hi]``."""
    for pattern in _SOFT_BREAKS:
        found = None
        for m in pattern.finditer(text, lo, hi):
            found = m
        if found is not None:
            return found.start() if found.group().isspace() else found.end()
    return None


def _hard_split(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Split the stripped span ``text[start:end]`` into stripped spans of at most ``limit`` characters."""
    spans: list[tuple[int, int]] = []
    while end - start > limit:
        hi = start + limit
        cut = _last_break(text, start + limit // 2, hi)
        if cut is None:
            cut = _last_break(text, start + 1, hi)
        if cut is None or cut <= start:
            cut = hi
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        if piece_end > start:
            spans.append((start, piece_end))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        spans.append((start, end))
    return spans


# --------------------------------------------------------------------------------------------------------------
# Markdown structure

_PARSER = MarkdownIt("commonmark").disable(["inline", "text_join"])


@dataclass(frozen=True)
class _Section:
    path: str
    lines: list[str]  # body lines (heading line excluded)
    fences: list[tuple[int, int]]  # fenced code line ranges, relative to ``lines``


def _fence_ranges(tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """Line ranges ``[start, end)`` of the fenced code blocks (at any nesting depth), in document order."""
    return [(tok.map[0], tok.map[1]) for tok in tokens if tok.type == "fence" and tok.map]


def _fenced_code_line_ranges(markdown: str) -> list[tuple[int, int]]:
    """Line ranges ``[start, end)`` of fenced code blocks of ``markdown`` (lines split on "\\n")."""
    return _fence_ranges(_PARSER.parse(markdown))


def _sections(markdown: str) -> Iterator[_Section]:
    tokens = _PARSER.parse(markdown)
    lines = markdown.split("\n")
    fences = _fence_ranges(tokens)
    headings: list[tuple[int, int, str]] = []  # (line, level, title)
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.level == 0 and tok.markup.startswith("#") and tok.map:
            title = " ".join(tokens[i + 1].content.split()) if i + 1 < len(tokens) else ""
            headings.append((tok.map[0], len(tok.markup), title))
    stack: list[tuple[int, str]] = []
    path = ""
    body_start = 0
    f = 0
    for line, level, title in [*headings, (len(lines), 0, "")]:
        # A fence never contains a top-level heading, so each fence lies inside one section body.
        section_fences: list[tuple[int, int]] = []
        while f < len(fences) and fences[f][0] < line:
            start, end = fences[f]
            if start >= body_start:
                section_fences.append((start - body_start, min(end, line) - body_start))
            f += 1
        yield _Section(path, lines[body_start:line], section_fences)
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        path = " > ".join(t for _, t in stack if t)
        body_start = line + 1


# --------------------------------------------------------------------------------------------------------------
# Packing

_AtomKind = Literal["sentence", "fragment", "code"]


@dataclass(frozen=True)
class _Atom:
    block: int  # index of the block (paragraph or code block) in the section
    start: int  # span inside the block's text
    end: int
    kind: _AtomKind


def _join(blocks: list[str], atoms: list[_Atom]) -> str:
    """Text of a run of atoms that is contiguous in document order."""
    parts: list[str] = []
    i = 0
    while i < len(atoms):
        j = i
        while j + 1 < len(atoms) and atoms[j + 1].block == atoms[i].block:
            j += 1
        parts.append(blocks[atoms[i].block][atoms[i].start : atoms[j].end])
        i = j + 1
    return "\n\n".join(parts)


def _joined_len(atoms: list[_Atom]) -> int:
    """``len(_join(blocks, atoms))`` without building the string."""
    if not atoms:
        return 0
    total = 0
    first = atoms[0]
    last = first
    for atom in atoms[1:]:
        if atom.block != last.block:
            total += last.end - first.start + 2
            first = atom
        last = atom
    return total + last.end - first.start


def _units(section: _Section, max_chars: int) -> tuple[list[str], list[list[_Atom]]]:
    """The section's blocks and its packing units (lists of atoms that go into a chunk together)."""
    blocks: list[str] = []
    units: list[list[_Atom]] = []
    lines = section.lines
    fence_at = {s: e for s, e in section.fences}
    i = 0
    n = len(lines)
    while i < n:
        if i in fence_at:
            end = fence_at[i]
            _code_units("\n".join(lines[i:end]), len(blocks), max_chars, units)
            blocks.append("\n".join(lines[i:end]))
            i = end
            continue
        if not lines[i].strip():
            i += 1
            continue
        j = i
        while j < n and lines[j].strip() and j not in fence_at:
            j += 1
        text = "\n".join(lines[i:j]).strip()
        block = len(blocks)
        blocks.append(text)
        sentences = [_Atom(block, s, e, "sentence") for s, e in _sentence_spans(text)]
        if len(text) <= max_chars:
            units.append(sentences)
        else:
            for atom in sentences:
                if atom.end - atom.start <= max_chars:
                    units.append([atom])
                else:
                    units.extend(
                        [_Atom(block, s, e, "fragment")] for s, e in _hard_split(text, atom.start, atom.end, max_chars)
                    )
        i = j
    return blocks, units


def _code_units(code: str, block: int, max_chars: int, units: list[list[_Atom]]) -> None:
    stripped = code.strip()
    if not stripped:
        return
    offset = code.index(stripped)
    if len(stripped) <= max_chars:
        units.append([_Atom(block, offset, offset + len(stripped), "code")])
        return
    # Split at line boundaries: greedy packing of whole lines (indentation kept); over-long lines are hard-split.
    pos = 0
    piece_start: int | None = None
    piece_end = 0
    for line in code.split("\n"):
        line_start, line_end = pos, pos + len(line.rstrip())
        pos += len(line) + 1
        if line_start == line_end:
            continue
        if piece_start is not None and line_end - piece_start <= max_chars:
            piece_end = line_end
            continue
        if piece_start is not None:
            units.append([_Atom(block, piece_start, piece_end, "code")])
            piece_start = None
        if line_end - line_start <= max_chars:
            piece_start, piece_end = line_start, line_end
        else:
            s = line_start + (len(line) - len(line.lstrip()))
            units.extend([_Atom(block, a, b, "code")] for a, b in _hard_split(code, s, line_end, max_chars))
    if piece_start is not None:
        units.append([_Atom(block, piece_start, piece_end, "code")])


def _overlap(previous: list[_Atom], overlap_chars: int) -> list[_Atom]:
    """The longest run of whole trailing sentences of ``previous`` that is at most ``overlap_chars`` long."""
    k = len(previous)
    while k > 0 and previous[k - 1].kind == "sentence" and _joined_len(previous[k - 1 :]) <= overlap_chars:
        k -= 1
    return previous[k:]


def _chunk_section(
    blocks: list[str], units: list[list[_Atom]], max_chars: int, overlap_chars: int
) -> Iterator[tuple[str, int]]:
    current: list[_Atom] = []
    current_len = 0
    overlap_len = 0
    for unit in units:
        unit_len = _joined_len(unit)
        if current:
            sep = 2 if unit[0].block != current[-1].block else unit[0].start - current[-1].end
            if current_len + sep + unit_len <= max_chars:
                current.extend(unit)
                current_len += sep + unit_len
                continue
            yield _join(blocks, current), overlap_len
            carried = _overlap(current, overlap_chars)
            while carried and _joined_len([*carried, *unit]) > max_chars:
                carried = carried[1:]
            overlap_len = _joined_len(carried)
            current = [*carried, *unit]
        else:
            current = list(unit)
        current_len = _joined_len(current)
    if current:
        yield _join(blocks, current), overlap_len


def chunk_markdown(markdown: str, *, max_chars: int = 800, overlap_chars: int = 150) -> list[Chunk]:
    """Split Markdown into chunks of at most ``max_chars`` characters that never span two sections.

    Whole paragraphs are packed first; a paragraph longer than ``max_chars`` is packed sentence by sentence, and a
    sentence longer than ``max_chars`` is hard-split (at a newline, then CJK/ASCII commas, then whitespace). Fenced
    code blocks stay whole when they fit, otherwise they are split at line boundaries. Each chunk after the first of a
    section starts with the previous chunk's last whole sentences totalling at most ``overlap_chars`` (fewer, or
    none, when the new material would not fit otherwise).
    """
    if overlap_chars < 0 or max_chars <= 0:
        raise ValueError("max_chars must be positive and overlap_chars non-negative")
    if max_chars <= overlap_chars:
        raise ValueError(f"max_chars ({max_chars}) must be greater than overlap_chars ({overlap_chars})")
    markdown = markdown.replace("\r\n", "\n").replace("\r", "\n")
    chunks: list[Chunk] = []
    for section in _sections(markdown):
        blocks, units = _units(section, max_chars)
        for text, overlap in _chunk_section(blocks, units, max_chars, overlap_chars):
            chunks.append(Chunk(text=text, section=section.path, position=len(chunks), overlap=overlap))
    return chunks
