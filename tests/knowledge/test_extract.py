"""Text extraction from Markdown, plain text, HTML and PDF bytes."""

from __future__ import annotations

import io

import pypdf
import pytest
from fpdf import FPDF

from cozegate.knowledge.chunking import chunk_markdown
from cozegate.knowledge.extract import DocumentKind, ExtractedText, ExtractionError, extract_text, kind_of


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("guide.md", None, "markdown"),
        ("GUIDE.Markdown", None, "markdown"),
        ("notes.txt", None, "text"),
        ("notes.text", None, "text"),
        ("index.rst", None, "text"),
        ("page.html", None, "html"),
        ("PAGE.HTM", None, "html"),
        ("manual.pdf", None, "pdf"),
        ("C:\\docs\\Manual.PDF", None, "pdf"),
        ("https://example.com/docs/page.html?lang=zh#top", None, "html"),
        ("download", "application/pdf", "pdf"),
        ("page", "text/html; charset=utf-8", "html"),
        ("page", "TEXT/MARKDOWN", "markdown"),
        ("notes", "text/plain; charset=gbk", "text"),
        ("readme.md", "text/plain", "markdown"),  # the suffix wins: servers send Markdown as text/plain
        ("report.docx", None, None),
        ("archive.tar.gz", "application/gzip", None),
        ("blob", "application/octet-stream", None),
        ("no-suffix", None, None),
        ("image.png", "image/png", None),
    ],
)
def test_kind_of(name: str, content_type: str | None, expected: DocumentKind | None) -> None:
    assert kind_of(name, content_type) == expected


# ---------------------------------------------------------------------------------------------------------------
# Markdown and plain text


def test_markdown_keeps_atx_headings_and_normalises_whitespace() -> None:
    source = (
        "\ufeff# Install **fast**  \r\n\r\nSome   text\twith  gaps.\x00\n\n\n\n\n## Next\nMore.\n"
        "\n```python\nx  =  1   # aligned\n\n\n\ny = 2\n```\n"
    )
    result = extract_text(source.encode("utf-8"), "markdown", "guide.md")
    assert result.title == "Install fast"
    assert result.markdown == (
        "# Install **fast**\n\nSome text with gaps.\n\n## Next\nMore.\n\n"
        "```python\nx  =  1   # aligned\n\n\n\ny = 2\n```"
    )


def test_markdown_setext_headings_become_atx() -> None:
    source = "Main Title\n==========\n\nIntro.\n\nSub *part*\n----------\n\nBody.\n"
    result = extract_text(source.encode(), "markdown", "doc.md")
    assert result == ExtractedText("Main Title", "# Main Title\n\nIntro.\n\n## Sub *part*\n\nBody.")
    assert [c.section for c in chunk_markdown(result.markdown)] == ["Main Title", "Main Title > Sub *part*"]


def test_markdown_without_heading_is_titled_by_name() -> None:
    assert extract_text(b"Just a note.", "markdown", "note.md") == ExtractedText("note.md", "Just a note.")


def test_markdown_front_matter_is_removed_and_gives_the_title() -> None:
    source = "---\ntitle: Release  notes\ntags: [a, b]\n---\nIntro line.\n\n---\n\nAfter a rule.\n"
    assert extract_text(source.encode(), "markdown", "notes.md") == ExtractedText(
        "Release notes", "Intro line.\n\n---\n\nAfter a rule."
    )
    with_heading = "---\ntitle: Meta\n---\n# Heading\n\nText."
    assert extract_text(with_heading.encode(), "markdown", "h.md") == ExtractedText("Heading", "# Heading\n\nText.")
    not_yaml = "---\n: [unbalanced\n---\nText."
    assert extract_text(not_yaml.encode(), "markdown", "x.md").markdown.endswith("Text.")
    assert extract_text(not_yaml.encode(), "markdown", "x.md").markdown.startswith("---")


def test_plain_text_stays_as_it_is_but_for_underlined_titles() -> None:
    source = "Title line\n==========\n\n  indented   line\n\ttabbed\n"
    result = extract_text(source.encode(), "text", "plain.txt")
    assert result == ExtractedText("Title line", "# Title line\n\n  indented line\n\ttabbed")
    untitled = "just text\n\nmore  text\n"
    assert extract_text(untitled.encode(), "text", "plain.txt") == ExtractedText("plain.txt", "just text\n\nmore text")


def test_restructuredtext_titles_become_headings_in_order_of_first_appearance() -> None:
    source = (
        "*******\nManual\n*******\n\nIntro.\n\nInstall\n=======\n\nSteps.\n\nOn Linux\n--------\n\napt.\n\n"
        "Use\n===\n\nRun it.\n\nshort\n==\n\n=====\n\nend\n"
    )
    result = extract_text(source.encode(), "text", "manual.rst")
    assert result.title == "Manual"
    headings = [line for line in result.markdown.split("\n") if line.startswith("#")]
    assert headings == ["# Manual", "## Install", "### On Linux", "## Use"]
    assert "short\n==" in result.markdown  # an underline shorter than its line (and under 3) is text
    assert "=====\n\nend" in result.markdown  # a lone rule is no title


def test_gb18030_chinese_text_is_decoded() -> None:
    source = "知识库说明\n\n第一段：支持中文文档。第二句！\n"
    data = source.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    result = extract_text(data, "text", "说明.txt")
    assert result == ExtractedText("说明.txt", "知识库说明\n\n第一段：支持中文文档。第二句！")


def test_gbk_markdown_gets_its_chinese_title() -> None:
    result = extract_text("# 安装指南\n\n运行安装程序。".encode("gbk"), "markdown", "install.md")
    assert result == ExtractedText("安装指南", "# 安装指南\n\n运行安装程序。")


def test_utf16_text_with_bom_is_decoded() -> None:
    data = "\ufeffHello 世界".encode("utf-16-le")
    assert extract_text(data, "text", "u16.txt").markdown == "Hello 世界"


@pytest.mark.parametrize("data", [b"\x80\x80\xff\xfe\xff", b"ok\xff"])
def test_undecodable_text_is_an_extraction_error(data: bytes) -> None:
    with pytest.raises(ExtractionError, match=r"broken\.txt"):
        extract_text(data, "text", "broken.txt")


# ---------------------------------------------------------------------------------------------------------------
# HTML

PAGE = """<!doctype html>
<html><head><meta charset="gbk"><title> 产品   手册 </title>
<style>p { color: red }</style><script>var tracking = 1;</script></head>
<body>
<header><nav><a href="/">Home</a> | <a href="/about">About</a></nav>Site banner</header>
<article>
  <header><h1>安装指南</h1></header>
  <p>第一段   文字。 See <a href="https://example.com">the docs</a> and <b>bold</b> snake_case text.</p>
  <h2>On Linux</h2>
  <ul><li>Download</li><li>Run it</li></ul>
  <h3>Table</h3>
  <table><tr><th>Name</th><th>Value</th></tr><tr><td>port</td><td>8080</td></tr></table>
  <pre><code class="language-python">def f():
    #  not a heading
    return  1
</code></pre>
  <h6>Deep</h6><p>Last words.</p>
</article>
<footer>Copyright footer</footer><noscript>Enable JavaScript</noscript>
</body></html>"""


def test_html_becomes_markdown_without_page_chrome() -> None:
    result = extract_text(PAGE.encode("gbk"), "html", "manual.html")
    assert result.title == "产品 手册"
    assert result.markdown == (
        "# 安装指南\n\n"
        "第一段 文字。 See the docs and **bold** snake_case text.\n\n"
        "## On Linux\n\n"
        "- Download\n- Run it\n\n"
        "### Table\n\n"
        "| Name | Value |\n| --- | --- |\n| port | 8080 |\n\n"
        "```python\ndef f():\n    #  not a heading\n    return  1\n```\n\n"
        "###### Deep\n\n"
        "Last words."
    )
    for dropped in ("tracking", "Home", "Site banner", "Copyright", "JavaScript", "color"):
        assert dropped not in result.markdown
    sections = [c.section for c in chunk_markdown(result.markdown)]
    assert sections == [
        "安装指南",
        "安装指南 > On Linux",
        "安装指南 > On Linux > Table",
        "安装指南 > On Linux > Table > Deep",
    ]


def test_html_title_falls_back_to_the_first_h1_then_the_name() -> None:
    with_h1 = b"<html><body><h2>Second</h2><h1>First <em>one</em></h1><p>x</p></body></html>"
    assert extract_text(with_h1, "html", "a.html").title == "First one"
    assert extract_text(b"<p>Only text.</p>", "html", "b.html") == ExtractedText("b.html", "Only text.")
    svg_only = b"<body><svg><title>icon</title></svg><p>Text.</p></body>"
    assert extract_text(svg_only, "html", "c.html") == ExtractedText("c.html", "Text.")


# ---------------------------------------------------------------------------------------------------------------
# PDF


def english_pdf(title: str | None) -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Page one explains the gateway. It has two sentences.")
    pdf.add_page()
    pdf.multi_cell(0, 8, "Page two covers retries.")
    return bytes(pdf.output())


def cjk_pdf(lines: list[str], title: str) -> bytes:
    """A minimal hand-written PDF: a Type0 font whose ToUnicode CMap maps each two-byte code to the same code point.

    fpdf2 would need a CJK TrueType font file, which this machine does not have; text extraction only needs the
    ToUnicode map, so the strings are simply UTF-16BE.
    """
    content = "BT /F1 14 Tf 72 720 Td 18 TL\n"
    content += "".join(f"<{line.encode('utf-16-be').hex()}> Tj T*\n" for line in lines) + "ET"
    cmap = (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
        "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        "1 beginbfrange <0000> <FFFF> <0000> endbfrange\n"
        "endcmap CMapName currentdict /CMap defineresource pop end end"
    )
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >>"
        " /Contents 4 0 R >>",
        f"<< /Length {len(content.encode())} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H"
        " /DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
        "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light"
        " /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 1000 >>",
        f"<< /Length {len(cmap.encode())} >>\nstream\n{cmap}\nendstream",
        f"<< /Title <feff{title.encode('utf-16-be').hex()}> >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 8 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_pdf_pages_are_joined_with_blank_lines_and_titled_from_metadata() -> None:
    result = extract_text(english_pdf("Gateway Guide"), "pdf", "guide.pdf")
    assert result == ExtractedText(
        "Gateway Guide", "Page one explains the gateway. It has two sentences.\n\nPage two covers retries."
    )


def test_pdf_without_title_is_titled_by_name() -> None:
    assert extract_text(english_pdf(None), "pdf", "untitled.pdf").title == "untitled.pdf"


def test_chinese_pdf() -> None:
    data = cjk_pdf(["知识库：第一段文字。", "第二行，包含English单词！"], title="中文手册")
    assert extract_text(data, "pdf", "zh.pdf") == ExtractedText(
        "中文手册", "知识库：第一段文字。\n第二行，包含English单词！"
    )


@pytest.mark.parametrize(
    "data",
    [b"", b"not a pdf at all", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", english_pdf("t")[:400]],
    ids=["empty", "garbage", "truncated-header", "truncated"],
)
def test_broken_pdf_is_an_extraction_error(data: bytes) -> None:
    with pytest.raises(ExtractionError, match=r"broken\.pdf"):
        extract_text(data, "pdf", "broken.pdf")


def test_password_protected_pdf_is_an_extraction_error() -> None:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(english_pdf("secret"))))
    writer.encrypt("open-sesame", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(ExtractionError, match=r"locked\.pdf.*encrypted"):
        extract_text(buffer.getvalue(), "pdf", "locked.pdf")


def test_pdf_encrypted_without_a_user_password_is_read() -> None:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(english_pdf("Open"))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    assert "Page two covers retries." in extract_text(buffer.getvalue(), "pdf", "open.pdf").markdown
