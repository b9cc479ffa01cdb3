"""Plain text (as Markdown) out of uploaded or crawled documents.

* Markdown / plain text: decoded as UTF-8 (a UTF-8 or UTF-16 byte-order mark is honoured), falling back to GB18030
  (a superset of GBK/GB2312, the usual legacy encoding of Chinese files). In Markdown, setext headings (``Title`` +
  ``===``) are rewritten as ATX headings so that the chunker sees them, and a YAML front matter block is removed (its
  ``title`` is used when the document has no heading); plain text is left as it is.
* HTML: BeautifulSoup (stdlib ``html.parser``, pure Python) + ``markdownify`` (MIT; ``html2text`` would have been the
  alternative but is GPL-3.0). Page chrome (script, style, nav, noscript, template, and header/footer that are not
  inside an article, section or main element) is dropped first.
* PDF: ``pypdf``; the page texts are joined with blank lines. Scanned PDFs without a text layer yield no text (no OCR).

Whitespace is normalised outside fenced code blocks: runs of spaces/tabs inside a line collapse to one space
(indentation is kept), trailing spaces go, at most one blank line in a row; NUL and other control characters are
removed everywhere.
"""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import urlsplit

import pypdf
import yaml
from bs4 import BeautifulSoup, Tag
from bs4.dammit import UnicodeDammit
from markdown_it import MarkdownIt
from markdownify import MarkdownConverter
from pypdf.errors import PyPdfError

from cozegate.knowledge.chunking import _fenced_code_line_ranges

__all__ = ["DocumentKind", "ExtractedText", "ExtractionError", "extract_text", "kind_of"]

DocumentKind = Literal["markdown", "text", "html", "pdf"]

_SUFFIXES: dict[str, DocumentKind] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".mkd": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
}
_CONTENT_TYPES: dict[str, DocumentKind] = {
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
    "text/x-rst": "text",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
}


def kind_of(name: str, content_type: str | None = None) -> DocumentKind | None:
    """The document kind from the file name's suffix, else from the HTTP ``Content-Type``; ``None`` if unsupported.

    The suffix wins because servers often send Markdown as ``text/plain``. ``name`` may also be a URL.
    """
    path = urlsplit(name).path if "://" in name else name
    kind = _SUFFIXES.get(PurePosixPath(path.replace("\\", "/")).suffix.lower())
    if kind is None and content_type:
        kind = _CONTENT_TYPES.get(content_type.split(";", 1)[0].strip().lower())
    return kind


@dataclass(frozen=True)
class ExtractedText:
    """``title``: first heading / HTML title / PDF metadata title, else the name; ``markdown``: the text."""

    title: str
    markdown: str


class ExtractionError(ValueError):
    """The document cannot be read (undecodable bytes, broken or encrypted PDF, ...)."""


def extract_text(data: bytes, kind: DocumentKind, name: str) -> ExtractedText:
    """Extract the text of a document as Markdown; ``name`` is used as the title when the document has none."""
    if kind == "markdown":
        return _from_markdown(_decode(data, name), name)
    if kind == "text":
        text, title = _underlined_headings(_normalise(_decode(data, name)))
        return ExtractedText(title=title or name, markdown=text)
    if kind == "html":
        return _from_html(data, name)
    if kind == "pdf":
        return _from_pdf(data, name)
    raise ValueError(f"unsupported document kind {kind!r}")


# --------------------------------------------------------------------------------------------------------------
# Text and Markdown

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def _decode(data: bytes, name: str) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise ExtractionError(f"{name}: invalid {encoding} after byte-order mark: {exc}") from exc
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ExtractionError(f"{name}: text is neither UTF-8 nor GB18030")


_UNDERLINE = re.compile(r"([=\-*~^\"#+])\1{2,}")


def _underlined_headings(text: str) -> tuple[str, str]:
    """Plain text with reStructuredText-style titles (a line underlined, optionally overlined too, by a row of
    ``= - * ~ ^ " # +`` at least as long) rewritten as ATX headings, levels in order of first appearance, as
    reST assigns them. Returns (the text, the first title or "")."""
    lines = text.split("\n")
    styles: list[tuple[str, bool]] = []
    out: list[str] = []
    first = ""
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        over = bool(_UNDERLINE.fullmatch(line)) and i + 2 < len(lines)
        title_at = i + 1 if over else i
        title = lines[title_at].strip() if title_at < len(lines) else ""
        under = lines[title_at + 1].strip() if title_at + 1 < len(lines) else ""
        match = _UNDERLINE.fullmatch(under)
        if (
            title
            and not _UNDERLINE.fullmatch(title)
            and match
            and len(under) >= len(title)
            and (not over or line == under)
        ):
            style = (match.group(1), over)
            if style not in styles:
                styles.append(style)
            out.append("#" * min(6, styles.index(style) + 1) + " " + title)
            first = first or title
            i = title_at + 2
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out), first


_BLOCK_PARSER = MarkdownIt("commonmark").disable(["inline", "text_join"])
_INLINE_PARSER = MarkdownIt("commonmark")


_FRONT_MATTER = re.compile(r"---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|$)", re.S)


def _split_front_matter(text: str) -> tuple[str, str]:
    """Remove a leading YAML front matter block; returns (its title or "", the rest)."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return "", text
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return "", text
    if not isinstance(data, dict):
        return "", text
    title = data.get("title")
    return (" ".join(str(title).split()) if title is not None else ""), text[match.end() :]


def _from_markdown(text: str, name: str) -> ExtractedText:
    meta_title, text = _split_front_matter(_clean_controls(text))
    tokens = _BLOCK_PARSER.parse(text)
    lines = text.split("\n")
    headings = [i for i, tok in enumerate(tokens) if tok.type == "heading_open" and tok.level == 0 and tok.map]
    title = " ".join(tokens[headings[0] + 1].content.split()) if headings else ""
    # Rewrite setext headings bottom-up so that the line numbers of the earlier ones stay valid.
    for i in reversed(headings):
        tok = tokens[i]
        if tok.markup in ("=", "-") and tok.map:
            start, end = tok.map
            lines[start:end] = [f"{'#' * int(tok.tag[1])} {' '.join(tokens[i + 1].content.split())}"]
    title = _plain_inline(title) or meta_title or name
    return ExtractedText(title=title, markdown=_normalise("\n".join(lines)))


def _plain_inline(markdown: str) -> str:
    """Inline Markdown (a heading) as plain text: emphasis, links and code markers removed."""
    if not markdown:
        return ""
    parts: list[str] = []
    for tok in _INLINE_PARSER.parseInline(markdown):
        for child in tok.children or []:
            if child.type in ("text", "code_inline", "html_inline"):
                parts.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                parts.append(" ")
    return " ".join("".join(parts).split())


# --------------------------------------------------------------------------------------------------------------
# HTML

_DROP_TAGS = ("script", "style", "nav", "noscript", "template", "iframe", "svg", "form", "button")
_CHROME_TAGS = ("header", "footer")


class _Converter(MarkdownConverter):
    """markdownify with ATX headings, '-' bullets, no Markdown escaping, and links/images reduced to their text."""

    def __init__(self) -> None:
        super().__init__(
            heading_style="ATX",
            bullets="-",
            escape_asterisks=False,
            escape_underscores=False,
            escape_misc=False,
            strip=["a", "img"],
            code_language_callback=_code_language,
        )


def _code_language(tag: Tag) -> str:
    """The language of ``<pre><code class="language-x">`` (or ``lang-x``), for the fence's info string."""
    code = tag.find("code")
    classes = [*tag.get_attribute_list("class"), *(code.get_attribute_list("class") if isinstance(code, Tag) else [])]
    for cls in classes:
        for prefix in ("language-", "lang-"):
            if isinstance(cls, str) and cls.startswith(prefix):
                return cls[len(prefix) :]
    return ""


def _from_html(data: bytes, name: str) -> ExtractedText:
    dammit = UnicodeDammit(data, is_html=True, user_encodings=["utf-8", "gb18030"])
    if dammit.unicode_markup is None:
        raise ExtractionError(f"{name}: cannot decode the HTML")
    soup = BeautifulSoup(_clean_controls(dammit.unicode_markup), "html.parser")
    title = ""
    title_tag = soup.find(lambda tag: tag.name == "title" and tag.find_parent("svg") is None)
    if title_tag is not None:
        title = " ".join(title_tag.get_text(" ").split())
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(_CHROME_TAGS):
        if isinstance(tag, Tag) and tag.find_parent(("article", "section", "main")) is None:
            tag.decompose()
    if not title:
        h1 = soup.find("h1")
        if h1 is not None:
            title = " ".join(h1.get_text(" ").split())
    if soup.head is not None:
        soup.head.decompose()
    markdown = _Converter().convert_soup(soup)
    return ExtractedText(title=title or name, markdown=_normalise(markdown))


# --------------------------------------------------------------------------------------------------------------
# PDF


def _from_pdf(data: bytes, name: str) -> ExtractedText:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError(f"{name}: the PDF is encrypted with a password")
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata = reader.metadata
        title = (metadata.title if metadata is not None else None) or ""
    except ExtractionError:
        raise
    except (PyPdfError, ValueError, TypeError, KeyError, IndexError, AttributeError, OSError, RecursionError) as exc:
        raise ExtractionError(f"{name}: cannot read the PDF: {exc}") from exc
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    return ExtractedText(title=" ".join(str(title).split()) or name, markdown=_normalise(text))


# --------------------------------------------------------------------------------------------------------------
# Normalisation

_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_INNER_SPACES = re.compile(r"(?<=\S)[ \t\u00a0\u3000]{2,}|(?<=\S)[\t\u00a0]")


def _clean_controls(text: str) -> str:
    """CR/LF to LF, form feeds to newlines, NUL and other C0 control characters removed."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n"))


def _normalise(text: str) -> str:
    text = _clean_controls(text)
    lines = text.split("\n")
    in_code = [False] * len(lines)
    for start, end in _fenced_code_line_ranges(text):
        for i in range(start, min(end, len(lines))):
            in_code[i] = True
    out: list[str] = []
    blank_run = 0
    for line, code in zip(lines, in_code, strict=True):
        line = line.rstrip()
        if not code:
            line = _INNER_SPACES.sub(" ", line)
            if not line.strip():
                blank_run += 1
                if blank_run > 1:
                    continue
                line = ""
            else:
                blank_run = 0
        else:
            blank_run = 0
        out.append(line)
    return "\n".join(out).strip("\n")
