"""Heading- and sentence-aware chunking: examples, and properties over generated English/Chinese documents."""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cozegate.knowledge.chunking import Chunk, chunk_markdown, split_sentences


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ---------------------------------------------------------------------------------------------------------------
# split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
        ("Use tools, e.g. a hammer, i.e. a tool. Then stop.", ["Use tools, e.g. a hammer, i.e. a tool.", "Then stop."]),
        ("Pi is 3.14 and e is 2.718. Both are irrational.", ["Pi is 3.14 and e is 2.718.", "Both are irrational."]),
        ("The U.S. economy grew. It was fine.", ["The U.S. economy grew.", "It was fine."]),
        ('He said "stop." Then he left.', ['He said "stop."', "Then he left."]),
        ("Really?! Yes.", ["Really?!", "Yes."]),
        ("Wait... what happened? Nothing.", ["Wait... what happened?", "Nothing."]),
        ("A line\nwrapped mid sentence. Next one.", ["A line\nwrapped mid sentence.", "Next one."]),
        ("No full stop here\n\nNew paragraph", ["No full stop here", "New paragraph"]),
        ("1. First step.\n2. Second step.", ["1. First step.", "2. Second step."]),
        ("今天天气很好。我们去公园吧！你去吗？", ["今天天气很好。", "我们去公园吧！", "你去吗？"]),
        ("他说：“你好。”然后走了。", ["他说：“你好。”", "然后走了。"]),
        ("书名是「三体」。『好书！』她说。", ["书名是「三体」。", "『好书！』", "她说。"]),
        ("第一；第二；第三", ["第一；", "第二；", "第三"]),
        ("等等……然后呢？", ["等等……", "然后呢？"]),
        ("（注意：不要删除。）继续。", ["（注意：不要删除。）", "继续。"]),
        ("我们用Python 3.12开发。It works well. 很好！", ["我们用Python 3.12开发。", "It works well.", "很好！"]),
        ("这是English.然后中文", ["这是English.", "然后中文"]),
        ("", []),
        ("   \n\n  ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_sentences_is_lossless_apart_from_whitespace() -> None:
    text = "Hello there. 你好！  How are you?\n\n我很好。Thanks, e.g. fine.\nBye"
    assert squash("".join(split_sentences(text))) == squash(text)


# ---------------------------------------------------------------------------------------------------------------
# chunk_markdown: examples


def test_short_english_paragraphs_form_one_chunk_before_any_heading() -> None:
    chunks = chunk_markdown("First paragraph. It is short.\n\nSecond paragraph.\n")
    assert chunks == [Chunk("First paragraph. It is short.\n\nSecond paragraph.", "", 0, 0)]


def test_chinese_paragraph_is_split_at_sentence_ends() -> None:
    sentences = [f"这是第{i}句话，用来测试中文分块是否正确。" for i in range(12)]
    chunks = chunk_markdown("".join(sentences), max_chars=60, overlap_chars=0)
    assert len(chunks) > 3
    assert all(len(c.text) <= 60 for c in chunks)
    assert all(c.text.endswith("。") for c in chunks)
    assert "".join(c.text for c in chunks) == "".join(sentences)


def test_nested_headings_give_section_paths() -> None:
    markdown = """Intro text.

# Install

Install it.

## On Linux

Use apt.

### Debian

Use apt-get.

## On Windows

Use the installer.

# Usage

Run it.

#### Deep

Skipped levels still nest.

# Empty

## Also empty

# Last #

Closing hashes are not part of the title.
"""
    chunks = chunk_markdown(markdown)
    assert [(c.section, c.text) for c in chunks] == [
        ("", "Intro text."),
        ("Install", "Install it."),
        ("Install > On Linux", "Use apt."),
        ("Install > On Linux > Debian", "Use apt-get."),
        ("Install > On Windows", "Use the installer."),
        ("Usage", "Run it."),
        ("Usage > Deep", "Skipped levels still nest."),
        ("Last", "Closing hashes are not part of the title."),
    ]
    assert [c.position for c in chunks] == list(range(len(chunks)))


def test_hash_lines_in_fenced_code_are_not_headings() -> None:
    markdown = """# Script

Run this:

```bash
# install the package
pip install cozegate
```

~~~
## also not a heading
~~~

- a list item

  ```python
  # nested in a list
  x = 1
  ```

Done.
"""
    chunks = chunk_markdown(markdown)
    assert {c.section for c in chunks} == {"Script"}
    text = "\n\n".join(c.text for c in chunks)
    assert "```bash\n# install the package\npip install cozegate\n```" in text
    assert "~~~\n## also not a heading\n~~~" in text
    assert "  # nested in a list" in text


def test_setext_and_hashtag_lines_are_not_section_breaks() -> None:
    chunks = chunk_markdown("Title\n=====\n\n#hashtag is not a heading either.\n")
    assert [c.section for c in chunks] == [""]


def test_code_block_is_kept_whole_when_it_fits() -> None:
    code = "```python\n" + "\n".join(f"print({i})  # line {i}" for i in range(10)) + "\n```"
    markdown = f"Before the code. {'Filler words here. ' * 5}\n\n{code}\n\nAfter the code."
    assert len(code) <= 300
    chunks = chunk_markdown(markdown, max_chars=300, overlap_chars=50)
    assert any(code in c.text for c in chunks)


def test_long_code_block_is_split_at_line_boundaries() -> None:
    lines = [f"value_{i} = compute({i}, {i * 2})" for i in range(40)]
    code = "```python\n" + "\n".join(lines) + "\n```"
    chunks = chunk_markdown(code, max_chars=200, overlap_chars=50)
    assert len(chunks) > 3
    for chunk in chunks:
        assert len(chunk.text) <= 200
        assert chunk.overlap == 0  # code is not sentences, so it is never repeated
        for line in chunk.text.split("\n"):
            assert line in ("```python", "```", *lines)
    assert "\n".join(c.text for c in chunks) == code


def test_long_english_sentence_is_hard_split_at_whitespace() -> None:
    words = [f"word{i:03d}" for i in range(80)]
    sentence = " ".join(words) + "."
    chunks = chunk_markdown(sentence, max_chars=100, overlap_chars=20)
    assert len(chunks) >= 6
    assert all(len(c.text) <= 100 for c in chunks)
    for chunk in chunks:
        assert chunk.overlap == 0  # fragments are not whole sentences
        assert all(re.fullmatch(r"word\d{3}\.?", w) for w in chunk.text.split())
    assert " ".join(c.text for c in chunks) == sentence


def test_long_chinese_sentence_is_hard_split_at_commas() -> None:
    clauses = [f"第{i}个分句包含一些文字" for i in range(30)]
    sentence = "，".join(clauses) + "。"
    chunks = chunk_markdown(sentence, max_chars=50, overlap_chars=10)
    assert all(len(c.text) <= 50 for c in chunks)
    assert all(c.text.endswith(("，", "。")) for c in chunks)
    assert "".join(c.text for c in chunks) == sentence


def test_unbreakable_text_is_cut_at_max_chars() -> None:
    chunks = chunk_markdown("x" * 250, max_chars=100, overlap_chars=10)
    assert [len(c.text) for c in chunks] == [100, 100, 50]


def test_overlap_repeats_whole_trailing_sentences_within_the_limit() -> None:
    sentences = [f"Sentence number {i} says something." for i in range(30)]  # 33 or 34 characters each
    chunks = chunk_markdown(" ".join(sentences), max_chars=200, overlap_chars=70)
    assert len(chunks) > 3
    assert chunks[0].overlap == 0
    for previous, chunk in itertools.pairwise(chunks):
        prefix = chunk.text[: chunk.overlap]
        assert len(chunk.text) <= 200
        assert prefix  # two sentences fit into 70 characters
        assert 0 < len(prefix) <= 70
        assert previous.text.endswith(prefix)
        assert len(split_sentences(prefix)) == 2
        assert all(s in sentences for s in split_sentences(prefix))
        assert chunk.text[chunk.overlap :].startswith(" ")


def test_no_overlap_when_the_last_sentence_is_longer_than_the_limit() -> None:
    long = "This closing sentence is deliberately much longer than the overlap limit allows."
    text = f"Short one. {long}\n\nNext paragraph starts here and is long enough. {'More text. ' * 8}"
    chunks = chunk_markdown(text, max_chars=120, overlap_chars=40)
    assert chunks[0].text.endswith(long)
    assert chunks[1].overlap == 0
    assert chunks[1].text.startswith("Next paragraph")


def test_code_is_never_repeated_as_overlap() -> None:
    paragraph = "A paragraph that fits alone. " * 3 + "It ends here."
    chunks = chunk_markdown(f"Intro sentence.\n\n```\nx = 1\n```\n\n{paragraph}", max_chars=120, overlap_chars=40)
    assert [c.text for c in chunks] == ["Intro sentence.\n\n```\nx = 1\n```", paragraph]
    assert chunks[1].overlap == 0


def test_overlap_never_crosses_sections() -> None:
    body = " ".join(f"Line {i} of the body." for i in range(20))
    chunks = chunk_markdown(f"# A\n\n{body}\n\n# B\n\n{body}", max_chars=120, overlap_chars=50)
    first_of_b = next(c for c in chunks if c.section == "B")
    assert first_of_b.overlap == 0
    assert first_of_b.text.startswith("Line 0 of the body.")
    assert sum(1 for c in chunks if c.overlap > 0) >= 4


def test_whitespace_only_document_and_sections_give_no_chunks() -> None:
    assert chunk_markdown("") == []
    assert chunk_markdown("  \n\n\t\n# Heading\n\n   \n## Sub\n") == []


def test_max_chars_must_exceed_overlap() -> None:
    with pytest.raises(ValueError, match="overlap_chars"):
        chunk_markdown("text", max_chars=100, overlap_chars=100)
    with pytest.raises(ValueError, match="positive"):
        chunk_markdown("text", max_chars=0, overlap_chars=-1)


def test_crlf_input_gives_the_same_chunks() -> None:
    markdown = "# T\n\nOne. Two.\n\n## U\n\nThree."
    assert chunk_markdown(markdown.replace("\n", "\r\n")) == chunk_markdown(markdown)


def test_python_topics_chunk_quickly_and_completely() -> None:
    from pydoc_data.topics import topics

    text = "\n\n".join(topics.values())
    assert len(text) > 400_000
    started = time.perf_counter()
    chunks = chunk_markdown(text)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0
    assert all(len(c.text) <= 800 for c in chunks)
    assert squash("".join(c.text[c.overlap :] for c in chunks)) == squash(text)
    assert chunk_markdown(text) == chunks  # deterministic


# ---------------------------------------------------------------------------------------------------------------
# chunk_markdown: properties

ENGLISH_WORDS = ["the", "gateway", "Coze", "bot", "token", "e.g.", "3.14", "Mr.", "queue", "retry", "data", "U.S."]
CHINESE = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可也你"
CLOSERS = ["", "", "", "”", "」", "）"]


@st.composite
def english_sentence(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(ENGLISH_WORDS), min_size=1, max_size=40))
    words[0] = words[0].capitalize()
    return " ".join(words) + draw(st.sampled_from([".", "!", "?", "", "..."]))


@st.composite
def chinese_sentence(draw: st.DrawFn) -> str:
    opener = draw(st.sampled_from(["", "“", "「"]))
    body = draw(st.text(alphabet=CHINESE + "，、", min_size=1, max_size=80))
    end = draw(st.sampled_from(["。", "！", "？", "；", "……", ""]))
    return opener + body + end + (draw(st.sampled_from(CLOSERS)) if end else "")


@st.composite
def paragraph(draw: st.DrawFn) -> str:
    sentences = draw(st.lists(st.one_of(english_sentence(), chinese_sentence()), min_size=1, max_size=8))
    text = sentences[0]
    for sentence in sentences[1:]:
        text += draw(st.sampled_from([" ", "", "\n"])) + sentence
    return text


@dataclass(frozen=True)
class Section:
    level: int  # 0: the text before the first heading
    title: str
    body: str


@st.composite
def document(draw: st.DrawFn) -> list[Section]:
    sections = [Section(0, "", "\n\n".join(draw(st.lists(paragraph(), max_size=3))))]
    for i in range(draw(st.integers(0, 5))):
        paragraphs = draw(st.lists(paragraph(), max_size=4))
        sections.append(Section(draw(st.integers(1, 6)), f"Title {i}", "\n\n".join(paragraphs)))
    return sections


def render(sections: list[Section]) -> str:
    parts = [sections[0].body]
    parts += [f"{'#' * s.level} {s.title}\n\n{s.body}" for s in sections[1:]]
    return "\n\n".join(parts)


def expected_paths(sections: list[Section]) -> list[str]:
    paths = [""]
    stack: list[Section] = []
    for section in sections[1:]:
        stack = [s for s in stack if s.level < section.level] + [section]
        paths.append(" > ".join(s.title for s in stack))
    return paths


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document(), st.integers(20, 400), st.data())
def test_chunking_properties(sections: list[Section], max_chars: int, data: st.DataObject) -> None:
    overlap_chars = data.draw(st.integers(0, max_chars - 1))
    chunks = chunk_markdown(render(sections), max_chars=max_chars, overlap_chars=overlap_chars)

    # (3) positions are 0..n-1
    assert [c.position for c in chunks] == list(range(len(chunks)))
    # (1) size limit; chunks are trimmed and never contain heading lines
    for chunk in chunks:
        assert 0 < len(chunk.text) <= max_chars
        assert chunk.text == chunk.text.strip()
        assert not re.search(r"^#", chunk.text, flags=re.M)

    paths = expected_paths(sections)
    remaining = list(chunks)
    for section, path in zip(sections, paths, strict=True):
        own: list[Chunk] = []
        while remaining and remaining[0].section == path:
            own.append(remaining.pop(0))
        if not section.body.strip():
            assert own == []
            continue
        assert own, f"no chunk for section {path!r}"
        # (2) every sentence that fits appears whole in a chunk of its section
        for sentence in split_sentences(section.body):
            if len(sentence) <= max_chars:
                assert any(sentence in c.text for c in own), sentence
        # (4) the new parts, in order, are exactly the section text (modulo whitespace)
        assert own[0].overlap == 0
        assert all(c.text[c.overlap :].strip() for c in own)
        assert squash("".join(c.text[c.overlap :] for c in own)) == squash(section.body)
        # (5) the overlap prefix is a suffix of the previous chunk, made of whole sentences, within the limit
        body_sentences = set(split_sentences(section.body))
        for previous, chunk in itertools.pairwise(own):
            prefix = chunk.text[: chunk.overlap]
            assert len(prefix) <= overlap_chars
            assert previous.text.endswith(prefix)
            assert set(split_sentences(prefix)) <= body_sentences
    assert remaining == [], "chunks with unexpected sections"
