"""Webhook ack benchmark: cozegate against the Go peer (no safety) and the safe Python peer, same run.

Every target gets the same unique, signed requests from wrk (64 connections by default; the events
spread over 100 conversations), and is started for its own measurement and stopped after it, so no
target's background work lands in another's figures:

* ``go-peer``: the seed's Go webhook (decodes JSON, answers; no signature, no storage);
* ``safe-peer``: ``../shared/bench/safe-peer`` under uvicorn (body limit, signature and window, parse,
  durable deduplicated group commit with ``synchronous=FULL``, ack after COMMIT: cozegate's contract);
* ``cozegate-ingest``: ``cozegate serve`` with no workers (the ack path alone);
* ``cozegate-workers``: with its workers on and replies flowing: each event is asked of a Coze
  simulator (``cozegate sim``, bot-echo) and its reply POSTed to the Go peer.

Prints req/s, p50/p99 and CPU per request (the target's process tree, from /proc) per target, median
of the runs, and the ratios against both peers. Needs Debian's wrk and golang-go.

    .venv/bin/python bench/webhook/run.py                      # 3 runs of 10 s each, SQLite
    .venv/bin/python bench/webhook/run.py --runs 1 --duration 5 --server uvicorn,granian
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = Path(os.environ.get("BENCH_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
from bench.common.backends import drop_redis_prefix, drop_schema, fresh_schema, new_redis_prefix  # noqa: E402
from bench.common.cpu import tree_cpu_seconds  # noqa: E402
from bench.common.wrk import Result, add_load_options, median, run_wrk, wait_port  # noqa: E402
from gen_requests import generate, new_secret  # noqa: E402


def build_peer(build_dir: Path) -> Path:
    source = Path(os.environ.get("BENCH_PEER_SRC", SHARED / "bench" / "peer-go"))
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


@dataclass
class Target:
    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    path: str
    cwd: Path | None = None


@dataclass
class Measured:
    result: Result
    cpu_us_per_request: float


def measure(target: Target, secret: str, work: Path, args: argparse.Namespace, run: int) -> Measured:
    requests_file = work / "requests.txt"
    generate(requests_file, max(200_000, 70_000 * args.duration), secret, f"r{run}{target.name}{time.time_ns()}")
    proc = subprocess.Popen(
        target.command, env=target.env, cwd=target.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(target.port, timeout=60)
        time.sleep(0.5)
        before = tree_cpu_seconds(proc.pid)
        env = {**os.environ, "BENCH_REQUESTS": str(requests_file), "BENCH_THREADS": str(args.threads)}
        url = f"http://127.0.0.1:{target.port}{target.path}"
        result = run_wrk(
            target.name,
            url,
            str(HERE / "signed.lua"),
            threads=args.threads,
            connections=args.connections,
            duration=args.duration,
            env=env,
        )
        cpu = tree_cpu_seconds(proc.pid) - before
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return Measured(result, cpu / max(1, result.requests) * 1e6)


def describe(run: int, m: Measured) -> str:
    r = m.result
    return (
        f"run {run} {r.target:24s} {r.rps:9.0f} req/s  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms  "
        f"CPU {m.cpu_us_per_request:6.1f} us/req  non-2xx {r.non_2xx}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_load_options(parser)
    parser.add_argument(
        "--server", default="uvicorn", help="cozegate's HTTP server(s), comma-separated: uvicorn, granian"
    )
    parser.add_argument("--workers", type=int, default=16, help="cozegate's handler workers in the workers run")
    parser.add_argument("--no-workers-run", action="store_true", help="measure cozegate ingest-only alone")
    parser.add_argument(
        "--database-url", default=None, help="default: a fresh SQLite file; PostgreSQL runs in a fresh schema"
    )
    parser.add_argument("--redis-url", default=None, help="Redis for the fast-path dedup (distributed mode)")
    parser.add_argument("--processes", type=int, default=1, help="cozegate serve processes (PostgreSQL + Redis)")
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
    peer_port, safe_port, gate_port, sim_port = 18080, 18083, 18081, 18084
    reply_url = f"http://127.0.0.1:{peer_port}/coze/webhook"  # the Go peer takes the replies
    (work / "tenants.yaml").write_text(
        f"tenants:\n  default:\n    secrets:\n      - value: {secret}\n    bot_id: bot-echo\n"
        f"    reply_url: {reply_url}\n"
    )
    base_env = {
        **os.environ,
        "COZEGATE_STATE_DIR": str(work),
        "COZEGATE_TENANTS_FILE": str(work / "tenants.yaml"),
        "COZEGATE_PORT": str(gate_port),
        "COZEGATE_LOG_LEVEL": "WARNING",
        "COZEGATE_COZE_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "COZEGATE_PROCESSES": str(args.processes),
        "COZEGATE_INBOX_MAX_DEPTH": "100000000",
        "COZEGATE_INGRESS_TENANT_RATE": "1e9",  # the benchmark measures the ack path, not the quota
        "COZEGATE_INGRESS_TENANT_BURST": "1e9",
    }
    schemas: list[str] = []
    if args.redis_url:
        base_env["COZEGATE_REDIS_URL"] = args.redis_url
        base_env["COZEGATE_REDIS_PREFIX"] = new_redis_prefix()
    sink = None
    if args.tracing:
        sink_port = 18082
        sink = subprocess.Popen([sys.executable, str(REPO / "bench" / "common" / "otlp_sink.py"), str(sink_port)])
        wait_port(sink_port)
        base_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink_port}"

    def cozegate(name: str, server: str, workers: int) -> Target:
        env = {**base_env, "COZEGATE_SERVER": server, "COZEGATE_WORKERS": str(workers)}
        if args.database_url:  # a fresh schema per target: no backlog of another target's events
            env["COZEGATE_DATABASE_URL"] = args.database_url
            env["COZEGATE_AUTO_MIGRATE"] = "true"
            if args.database_url.startswith("postgresql"):
                schema = fresh_schema(args.database_url)
                schemas.append(schema)
                env["COZEGATE_DATABASE_SCHEMA"] = schema
        else:
            env["COZEGATE_DATABASE_URL"] = f"sqlite+aiosqlite:///{work / (name + secrets.token_hex(3))}.db"
        command = [str(Path(sys.executable).with_name("cozegate")), "serve"]
        return Target(name, command, env, gate_port, "/coze/webhook", work)

    safe_env = {
        **os.environ,
        "SYNC": "FULL",
        "WRITER": "thread",
        "DB_PATH": str(work / "safe-peer.db"),
        "WEBHOOK_SECRET": secret,
    }
    safe_command = [str(Path(sys.executable).with_name("uvicorn")), "safe_app:app", "--app-dir"]
    safe_command += [str(SHARED / "bench" / "safe-peer"), "--host", "127.0.0.1", "--port", str(safe_port)]
    safe_command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    targets = [Target("safe-peer", safe_command, safe_env, safe_port, "/webhooks/demo")]
    servers = [s.strip() for s in args.server.split(",") if s.strip()]
    for server in servers:
        suffix = "" if len(servers) == 1 else f"-{server}"
        targets.append(cozegate(f"cozegate-ingest{suffix}", server, 0))
        if not args.no_workers_run:
            targets.append(cozegate(f"cozegate-workers{suffix}", server, args.workers))

    peer_target = Target(
        "go-peer", [str(peer_bin)], {**os.environ, "PEER_ADDR": f"127.0.0.1:{peer_port}"}, peer_port, "/coze/webhook"
    )
    sim = subprocess.Popen(
        [str(Path(sys.executable).with_name("cozegate")), "sim", "--port", str(sim_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: dict[str, list[Measured]] = {t.name: [] for t in [peer_target, *targets]}
    try:
        wait_port(sim_port)
        for run in range(args.runs):
            m = measure(peer_target, secret, work, args, run)
            results[peer_target.name].append(m)
            print(describe(run + 1, m), flush=True)
            # the Go peer runs on as the reply receiver of the cozegate-workers target
            receiver = subprocess.Popen(peer_target.command, env=peer_target.env, stdout=subprocess.DEVNULL)
            try:
                wait_port(peer_port)
                for target in targets:
                    m = measure(target, secret, work, args, run)
                    results[target.name].append(m)
                    print(describe(run + 1, m), flush=True)
                    time.sleep(1)
            finally:
                receiver.send_signal(signal.SIGTERM)
                receiver.wait(timeout=30)
    finally:
        for proc in (sim, sink):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)

    def med(name: str, attr: str) -> float:
        if attr == "cpu":
            return median_of([m.cpu_us_per_request for m in results[name]])
        return median([m.result for m in results[name]], attr)

    print()
    print(f"{'target':24s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'CPU us/req':>11s} {'/ safe':>7s} {'/ Go':>6s}")
    go, safe = med("go-peer", "rps"), med("safe-peer", "rps")
    for name in results:
        rps = med(name, "rps")
        print(
            f"{name:24s} {rps:9.0f} {med(name, 'p50_ms'):8.2f} {med(name, 'p99_ms'):8.2f} {med(name, 'cpu'):11.1f}"
            f" {rps / safe:7.2f} {rps / go:6.2f}"
        )
    print(f"(median of {args.runs} runs of {args.duration} s, {args.connections} connections; ratios are req/s)")
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "webhook.json").write_text(
        json.dumps(
            {
                "args": vars(args),
                "runs": {
                    k: [{**asdict(m.result), "cpu_us_per_request": m.cpu_us_per_request} for m in v]
                    for k, v in results.items()
                },
            },
            indent=2,
        )
    )
    shutil.rmtree(work, ignore_errors=True)
    for schema in schemas:
        drop_schema(args.database_url, schema)
    if args.redis_url:
        drop_redis_prefix(args.redis_url, base_env["COZEGATE_REDIS_PREFIX"])


def median_of(values: list[float]) -> float:
    return statistics.median(values)


if __name__ == "__main__":
    main()
