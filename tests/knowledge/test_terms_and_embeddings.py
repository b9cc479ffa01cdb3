"""The terms keyword search counts, and the two embedders."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from milvus_lite.analyzer.standard import StandardAnalyzer

from cozegate.knowledge.embeddings import EmbedderUnavailableError, HashingEmbedder, MiniLmEmbedder, create_embedder
from cozegate.knowledge.terms import terms, terms_text
from tests.conftest import IN_CI

MIXED = st.text(
    alphabet=st.sampled_from([*list("abcXYZ  .,;-_0123456789é异常处理使用语句我们的"), "\n", "ﾊ", "한"]),
    max_size=200,
)


def test_english_is_lowercased_stemmed_and_stripped_of_stop_words() -> None:
    assert terms("The Quick brown foxes are Jumping over the lazy dogs") == [
        "quick", "brown", "fox", "jump", "over", "lazi", "dog",
    ]  # fmt: skip
    assert terms("__init__ and 3.14") == ["init", "3", "14"]


def test_chinese_becomes_overlapping_pairs_and_mixed_text_splits_at_the_script_change() -> None:
    assert terms("异常处理") == ["异常", "常处", "处理"]
    assert terms("我") == ["我"]
    assert terms("用try语句") == ["用", "tri", "语句"]


@given(MIXED)
@settings(max_examples=300, deadline=None)
def test_the_vector_store_analyzer_indexes_exactly_our_terms(text: str) -> None:
    """Milvus' standard analyzer splits ``terms_text`` back into ``terms``: keyword search counts our terms."""
    assert StandardAnalyzer().tokenize(terms_text(text)) == terms(text)


@given(MIXED)
@settings(max_examples=200, deadline=None)
def test_hashing_vectors_are_unit_length_and_deterministic(text: str) -> None:
    embedder = HashingEmbedder()
    [vector] = embedder.embed([text])
    assert len(vector) == embedder.dimension
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    assert embedder.embed([text]) == [vector]


def test_hashing_vectors_are_the_same_in_another_process() -> None:
    """No per-process hash seed: vectors stored by one replica match queries embedded by another."""
    code = (
        "from cozegate.knowledge.embeddings import HashingEmbedder; "
        "print(HashingEmbedder().embed(['annual leave policy'])[0][:40])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
        for _ in range(2)
    }
    assert len(runs) == 1
    assert runs.pop().strip() == str(HashingEmbedder().embed(["annual leave policy"])[0][:40])


def test_hashing_puts_shared_words_closer_than_unrelated_text() -> None:
    a, b, c = HashingEmbedder().embed(
        ["lambda creates anonymous functions", "anonymous function lambda", "the with statement"]
    )
    assert np.dot(a, b) > 0.5 > np.dot(a, c)


@pytest.fixture(scope="module")
def minilm() -> Iterator[MiniLmEmbedder]:
    try:
        yield MiniLmEmbedder()
    except EmbedderUnavailableError as exc:
        if IN_CI:
            pytest.fail(f"CI installs the `embeddings` extra: {exc}", pytrace=False)
        pytest.skip(str(exc))


def test_minilm_loads_offline_from_the_installed_package(minilm: MiniLmEmbedder) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert "site-packages" in str(minilm.model_path)
    assert (minilm.model_path / "model.safetensors").is_file()
    assert (minilm.name, minilm.dimension) == ("minilm384", 384)


def test_minilm_understands_paraphrase(minilm: MiniLmEmbedder) -> None:
    question, answer, unrelated = minilm.embed(
        [
            "how do I write a function without a name",
            "lambda expressions create anonymous functions",
            "the weather is nice",
        ]
    )
    assert abs(float(np.linalg.norm(question)) - 1.0) < 1e-4
    assert np.dot(question, answer) > np.dot(question, unrelated) + 0.2
    assert HashingEmbedder().embed(["how do I write a function without a name"])[0] != question


def test_an_unknown_embedder_is_refused() -> None:
    with pytest.raises(ValueError, match="hashing"):
        create_embedder("word2vec")
