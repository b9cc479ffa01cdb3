"""The terms of a text: what keyword search (BM25) and the hashing embedder count.

English and other Latin-script words are lower-cased, stop words dropped and the rest stemmed with
the Snowball stemmer (PyStemmer, the C implementation). Chinese, Japanese and Korean text has no
spaces between words: a run of such characters becomes its overlapping character pairs (bigrams),
the usual dictionary-free way to index it; a single character stands alone.

``terms_text`` joins the terms with spaces, so the vector store's standard analyzer (which splits on
non-word characters) indexes exactly these terms, in Milvus Lite and in a Milvus server alike.
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK_CHARS}]+")
_WORD = re.compile(r"[^\W\d_]+|\d+")
_STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "which",
        "when",
        "what",
        "who",
        "how",
        "do",
        "does",
        "i",
        "you",
        "we",
        "they",
        "he",
        "she",
        "them",
        "our",
        "your",
        "not",
        "no",
        "can",
        "could",
        "should",
        "would",
        "may",
        "might",
        "than",
        "so",
        "such",
    }
)
_stemmer = Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    stemmed: str = _stemmer.stemWord(word)
    return stemmed


def terms(text: str) -> list[str]:
    """The searchable terms of ``text``, in order (repeats kept: they count)."""
    found: list[str] = []
    for match in _WORD.finditer(_CJK_RUN.sub(r" \g<0> ", text.lower())):
        token = match.group()
        if _CJK_RUN.match(token):
            if len(token) == 1:
                found.append(token)
            else:
                found.extend(token[i : i + 2] for i in range(len(token) - 1))
        elif token not in _STOP_WORDS and (len(token) > 1 or token.isdigit()):
            found.append(_stem(token))
    return found


def terms_text(text: str) -> str:
    """``terms(text)`` as one space-separated string (what the keyword index is given)."""
    return " ".join(terms(text))
