"""Plugin call benchmark: a trivial tool through the cozegate plugin SDK vs the same function as a bare
Starlette route, both under uvicorn (uvloop, httptools), loaded by wrk in the same run.

Tools: `add` (async) and `add_sync` (a sync function, run in a thread pool by both). The SDK does what
the bare route does not: service-token check, argument validation, deadline, concurrency limit, metrics.
Prints req/s, p50 and p99 per target (median of the runs) and the ratio SDK / Starlette. Needs Debian's wrk.

    .venv/bin/python bench/plugin/run.py                 # 3 runs of 10 s per tool and target
    .venv/bin/python bench/plugin/run.py --runs 1 --duration 5
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from bench.common.wrk import Result, add_load_options, describe, median, require_wrk, run_wrk, wait_port  # noqa: E402

TOOLS = ("add", "add_sync")
TARGETS = ("starlette", "cozegate")


def start(target: str, port: int) -> subprocess.Popen[bytes]:
    python = sys.executable
    if target == "cozegate":
        cmd = [python, "-m", "cozegate", "plugins", "serve", "bench.plugin.targets:plugin", "--port", str(port)]
    else:
        cmd = [
            python, "-m", "uvicorn", "bench.plugin.targets:baseline", "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_load_options(parser)
    args = parser.parse_args()
    require_wrk()

    ports = {"starlette": 18090, "cozegate": 18091}
    servers = {target: start(target, port) for target, port in ports.items()}
    results: dict[str, list[Result]] = {f"{tool}/{target}": [] for tool in TOOLS for target in TARGETS}
    try:
        for port in ports.values():
            wait_port(port)
        for run in range(args.runs):
            for tool in TOOLS:
                for target in TARGETS:
                    r = run_wrk(
                        f"{tool}/{target}",
                        f"http://127.0.0.1:{ports[target]}/plugins/bench/{tool}",
                        str(HERE / "post.lua"),
                        threads=args.threads,
                        connections=args.connections,
                        duration=args.duration,
                    )
                    if r.non_2xx:
                        sys.exit(f"{r.target}: {r.non_2xx} non-2xx answers; the benchmark is not measuring calls")
                    results[r.target].append(r)
                    print(describe(run + 1, r), flush=True)
                    time.sleep(1)
    finally:
        for proc in servers.values():
            proc.send_signal(signal.SIGTERM)
        for proc in servers.values():
            proc.wait(timeout=30)

    print()
    print(f"{'tool/target':18s} {'req/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for name, runs in results.items():
        print(f"{name:18s} {median(runs, 'rps'):10.0f} {median(runs, 'p50_ms'):8.2f} {median(runs, 'p99_ms'):8.2f}")
    ratios = {
        tool: median(results[f"{tool}/cozegate"], "rps") / median(results[f"{tool}/starlette"], "rps") for tool in TOOLS
    }
    for tool, ratio in ratios.items():
        print(f"ratio cozegate/starlette, {tool} (req/s, median of {args.runs}): {ratio:.2f}")
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "plugin.json").write_text(
        json.dumps(
            {"args": vars(args), "ratios": ratios, "runs": {k: [asdict(r) for r in v] for k, v in results.items()}},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
