"""Webhook ack benchmark: cozegate (signature check + durable inbox) vs the seed's Go peer, same run.

Both get the same unique, signed requests from wrk (64 connections by default). Prints req/s,
p50/p99 per target (median of the runs) and the ratio cozegate/peer. Needs Debian's wrk and golang-go.

    .venv/bin/python bench/webhook/run.py            # 3 runs of 10 s each
    .venv/bin/python bench/webhook/run.py --runs 1 --duration 5 --server uvicorn
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
from bench.common.wrk import Result, add_load_options, describe, median, run_wrk, wait_port  # noqa: E402
from gen_requests import generate, new_secret  # noqa: E402

T = TypeVar("T")


def pg_schema(url: str, sql: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _chunks(items: Iterator[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def build_peer(build_dir: Path) -> Path:
    source = Path(os.environ.get("BENCH_PEER_SRC", REPO.parent / "shared" / "bench" / "peer-go"))
    if shutil.which("go") is None or shutil.which("wrk") is None:
        sys.exit("needs Debian packages golang-go and wrk: apt-get install -y golang-go wrk")
    target = build_dir / "peer-go"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    for f in target.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)
    subprocess.run(
        ["go", "build", "-o", "peer", "."],
        cwd=target,
        check=True,
        env={**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOCACHE": str(build_dir / "gocache")},
    )
    return target / "peer"


def signed_wrk(target: str, url: str, requests_file: Path, args: argparse.Namespace) -> Result:
    env = {**os.environ, "BENCH_REQUESTS": str(requests_file), "BENCH_THREADS": str(args.threads)}
    script = str(HERE / "signed.lua")
    return run_wrk(
        target, url, script, threads=args.threads, connections=args.connections, duration=args.duration, env=env
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_load_options(parser)
    parser.add_argument("--server", choices=["granian", "uvicorn"], default="uvicorn")
    parser.add_argument("--workers", type=int, default=16, help="cozegate handler workers (0: ingest only)")
    parser.add_argument(
        "--database-url", default=None, help="default: a fresh SQLite file; PostgreSQL runs in a fresh schema"
    )
    parser.add_argument("--redis-url", default=None, help="Redis for the fast-path dedup (distributed mode)")
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="trace every request (OTLP/HTTP to a stand-in collector, bench/common/otlp_sink.py)",
    )
    args = parser.parse_args()

    build_dir = REPO / "build"
    build_dir.mkdir(exist_ok=True)
    peer_bin = build_peer(build_dir)
    work = Path(tempfile.mkdtemp(prefix="cozegate-bench-"))
    secret = new_secret()
    (work / "tenants.yaml").write_text(f"tenants:\n  default:\n    secrets:\n      - value: {secret}\n")
    peer_port, gate_port = 18080, 18081
    env = {
        **os.environ,
        "COZEGATE_STATE_DIR": str(work),
        "COZEGATE_TENANTS_FILE": str(work / "tenants.yaml"),
        "COZEGATE_PORT": str(gate_port),
        "COZEGATE_SERVER": args.server,
        "COZEGATE_LOG_LEVEL": "WARNING",
        "COZEGATE_WORKERS": str(args.workers),
        "COZEGATE_INBOX_MAX_DEPTH": "100000000",
        "COZEGATE_INGRESS_TENANT_RATE": "1e9",  # the benchmark measures the ack path, not the quota
        "COZEGATE_INGRESS_TENANT_BURST": "1e9",
    }
    schema = None
    if args.database_url:
        env["COZEGATE_DATABASE_URL"] = args.database_url
        env["COZEGATE_AUTO_MIGRATE"] = "true"
        if args.database_url.startswith("postgresql"):
            schema = f"bench_{secrets.token_hex(4)}"
            pg_schema(args.database_url, f'CREATE SCHEMA "{schema}"')
            env["COZEGATE_DATABASE_SCHEMA"] = schema
    if args.redis_url:
        env["COZEGATE_REDIS_URL"] = args.redis_url
        env["COZEGATE_REDIS_PREFIX"] = f"bench:{secrets.token_hex(4)}:"
    sink = None
    if args.tracing:
        sink_port = 18082
        sink = subprocess.Popen([sys.executable, str(REPO / "bench" / "common" / "otlp_sink.py"), str(sink_port)])
        wait_port(sink_port)
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink_port}"
    peer = subprocess.Popen([str(peer_bin)], env={**os.environ, "PEER_ADDR": f"127.0.0.1:{peer_port}"})
    gate = subprocess.Popen([str(Path(sys.executable).with_name("cozegate")), "serve"], env=env, cwd=work)
    results: dict[str, list[Result]] = {"peer": [], "cozegate": []}
    try:
        wait_port(peer_port)
        wait_port(gate_port)
        for run in range(args.runs):
            for target, port in (("peer", peer_port), ("cozegate", gate_port)):
                requests_file = work / "requests.txt"
                count = max(200_000, 70_000 * args.duration)
                generate(requests_file, count, secret, f"r{run}{target}{time.time_ns()}")
                r = signed_wrk(target, f"http://127.0.0.1:{port}/coze/webhook", requests_file, args)
                results[target].append(r)
                print(describe(run + 1, r), flush=True)
                time.sleep(1)
    finally:
        for proc in (gate, peer, sink):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
        for proc in (gate, peer, sink):
            if proc is not None:
                proc.wait(timeout=30)

    def med(target: str, attr: str) -> float:
        return median(results[target], attr)

    peer_rps, gate_rps = med("peer", "rps"), med("cozegate", "rps")
    print()
    print(f"{'target':10s} {'req/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for target in ("peer", "cozegate"):
        print(f"{target:10s} {med(target, 'rps'):10.0f} {med(target, 'p50_ms'):8.2f} {med(target, 'p99_ms'):8.2f}")
    print(f"ratio cozegate/peer (req/s, median of {args.runs}): {gate_rps / peer_rps:.2f}")
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "webhook.json").write_text(
        json.dumps(
            {
                "args": vars(args),
                "ratio": gate_rps / peer_rps,
                "runs": {k: [asdict(r) for r in v] for k, v in results.items()},
            },
            indent=2,
        )
    )
    shutil.rmtree(work, ignore_errors=True)
    if schema:
        pg_schema(args.database_url, f'DROP SCHEMA "{schema}" CASCADE')
    if args.redis_url:
        import redis

        client = redis.Redis.from_url(args.redis_url)
        for keys in _chunks(client.scan_iter(match=env["COZEGATE_REDIS_PREFIX"] + "*", count=10_000), 10_000):
            client.delete(*keys)


if __name__ == "__main__":
    main()
