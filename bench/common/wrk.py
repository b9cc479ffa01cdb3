"""Run wrk against a URL and read its report (req/s, p50, p99, non-2xx)."""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class Result:
    target: str
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    requests: int


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """The load every benchmark takes: runs, seconds per run, wrk connections and threads."""
    parser.add_argument("--runs", type=int, default=3, help="runs per target (the median is reported)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("needs Debian's wrk: apt-get install -y wrk")


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise RuntimeError(f"unexpected wrk latency {value!r}")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(target: str, output: str) -> Result:
    if "Requests/sec" not in output or "99%" not in output:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    non = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return Result(target, rps, p50, p99, int(non.group(1)) if non else 0, total)


def run_wrk(
    target: str,
    url: str,
    script: str,
    *,
    threads: int,
    connections: int,
    duration: int,
    env: dict[str, str] | None = None,
) -> Result:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "-s", script, "--latency", url]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return parse_wrk(target, out)


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def median(results: list[Result], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in results)


def describe(run: int, r: Result) -> str:
    return (
        f"run {run} {r.target:16s} {r.rps:10.0f} req/s  p50 {r.p50_ms:6.2f} ms  "
        f"p99 {r.p99_ms:6.2f} ms  non-2xx {r.non_2xx}"
    )
