"""Validate the retrieval benchmark questions in ``questions.json``.

Every question points at one topic of ``pydoc_data.topics`` (the Python documentation
topics that ship with CPython) and carries an ``evidence`` string: an exact substring of
that topic's text which answers the question.

Usage::

    python bench/retrieval/check_questions.py [path/to/questions.json]

Prints a summary and exits with status 1, listing every failure, if any rule is broken.
Evidence that also occurs in *other* topics is reported as a note, not a failure: some
topics are sections of larger ones (``with`` is part of ``compound``, ``customization`` of
``specialnames``...).  A benchmark can use :func:`evidence_topics` to treat every topic that
contains the evidence as a relevant passage.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

DEFAULT_PATH = Path(__file__).with_name("questions.json")

REQUIRED_FIELDS = ("id", "topic", "lang", "question", "evidence")
LANGS = frozenset({"en", "zh"})
STYLES = frozenset({"paraphrase", "terms", "keyword"})

MIN_QUESTIONS = 130
MIN_TOPICS = 60
MAX_PER_TOPIC = 3
MIN_ZH = 10
MIN_EVIDENCE_CHARS = 30
MAX_EVIDENCE_CHARS = 110

_CJK = re.compile(r"[\u4e00-\u9fff]")
_WS = re.compile(r"\s+")


def load_questions(path: str | Path = DEFAULT_PATH) -> list[dict[str, str]]:
    """Load the question list; every entry is a flat object of string fields."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list, got {type(data).__name__}")
    questions: list[dict[str, str]] = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: entry {index} is not an object")
        bad = [key for key, value in item.items() if not isinstance(value, str)]
        if bad:
            raise ValueError(f"{path}: entry {index} has non-string fields {bad}")
        questions.append(dict(item))
    return questions


def load_topics() -> dict[str, str]:
    """The corpus: topic key -> plain-text documentation passage."""
    from pydoc_data.topics import topics

    return dict(topics)


def evidence_topics(question: Mapping[str, str], topics: Mapping[str, str]) -> list[str]:
    """All topics whose text contains the question's evidence (its own topic first)."""
    evidence = question["evidence"]
    own = question["topic"]
    found = [own] if evidence in topics.get(own, "") else []
    found += sorted(key for key, text in topics.items() if key != own and evidence in text)
    return found


def _normalise(text: str) -> str:
    return _WS.sub(" ", text).strip().lower()


def check_questions(questions: list[dict[str, str]], topics: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Return ``(failures, notes)``; the question set is valid when ``failures`` is empty."""
    failures: list[str] = []
    notes: list[str] = []

    ids = Counter(q.get("id", "") for q in questions)
    failures += [f"duplicate id {qid!r} ({n} times)" for qid, n in ids.items() if n > 1]

    for q in questions:
        qid = q.get("id") or "<no id>"
        missing = [name for name in REQUIRED_FIELDS if not q.get(name)]
        if missing:
            failures.append(f"{qid}: missing or empty field(s) {', '.join(missing)}")
            continue
        topic, evidence, question, lang = q["topic"], q["evidence"], q["question"], q["lang"]

        if lang not in LANGS:
            failures.append(f"{qid}: lang {lang!r} is not one of {sorted(LANGS)}")
        elif (lang == "zh") != bool(_CJK.search(question)):
            failures.append(f"{qid}: lang {lang!r} does not match the question text")
        style = q.get("style")
        if style is not None and style not in STYLES:
            failures.append(f"{qid}: style {style!r} is not one of {sorted(STYLES)}")

        if not MIN_EVIDENCE_CHARS <= len(evidence) <= MAX_EVIDENCE_CHARS:
            failures.append(
                f"{qid}: evidence is {len(evidence)} chars, expected {MIN_EVIDENCE_CHARS}-{MAX_EVIDENCE_CHARS}"
            )
        if _normalise(evidence) in _normalise(question):
            failures.append(f"{qid}: question copies the evidence verbatim")

        if topic not in topics:
            failures.append(f"{qid}: unknown topic {topic!r}")
            continue
        count = topics[topic].count(evidence)
        if count != 1:
            where = "is not a substring of" if count == 0 else f"occurs {count} times in"
            failures.append(f"{qid}: evidence {where} topic {topic!r}: {evidence!r}")
            continue
        others = evidence_topics(q, topics)[1:]
        if others:
            notes.append(f"{qid}: evidence of {topic!r} also occurs in {', '.join(others)}")

    per_topic = Counter(q.get("topic", "") for q in questions)
    failures += [
        f"topic {topic!r} has {n} questions (max {MAX_PER_TOPIC})"
        for topic, n in per_topic.items()
        if n > MAX_PER_TOPIC
    ]
    if len(questions) < MIN_QUESTIONS:
        failures.append(f"only {len(questions)} questions (need at least {MIN_QUESTIONS})")
    if len(per_topic) < MIN_TOPICS:
        failures.append(f"only {len(per_topic)} distinct topics (need at least {MIN_TOPICS})")
    zh = sum(1 for q in questions if q.get("lang") == "zh")
    if zh < MIN_ZH:
        failures.append(f"only {zh} zh questions (need at least {MIN_ZH})")
    return failures, notes


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_PATH
    questions = load_questions(path)
    topics = load_topics()
    failures, notes = check_questions(questions, topics)

    per_topic = Counter(q.get("topic", "") for q in questions)
    langs = Counter(q.get("lang", "?") for q in questions)
    styles = Counter(q.get("style", "-") for q in questions)
    print(f"{path}: {len(questions)} questions, {len(per_topic)}/{len(topics)} topics")
    print("  lang:  " + ", ".join(f"{k}={v}" for k, v in sorted(langs.items())))
    print("  style: " + ", ".join(f"{k}={v}" for k, v in sorted(styles.items())))
    print("  per topic: " + ", ".join(f"{n}x{c}" for n, c in sorted(Counter(per_topic.values()).items())))
    uncovered = sorted(set(topics) - set(per_topic))
    print(f"  topics without questions ({len(uncovered)}): {', '.join(uncovered) or '-'}")
    print(f"  evidence shared with other topics: {len(notes)} (not an error)")
    for note in notes:
        print(f"    {note}")

    if failures:
        print(f"\nFAILED: {len(failures)} problem(s)")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
