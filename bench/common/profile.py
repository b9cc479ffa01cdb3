"""Sample a running process with py-spy and summarise where its CPU went (inclusive share per frame).

py-spy (``pip install py-spy``) attaches to the pid for the duration; the collapsed stacks it writes are
kept beside the summary, so a flame graph can be drawn from them later (e.g. with ``flamegraph.pl``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path


class Profiler:
    """``with Profiler(pid, out):`` samples ``pid`` (threads and children) while the block runs."""

    def __init__(self, pid: int, out: Path, rate: int = 200) -> None:
        spy = shutil.which("py-spy")
        if spy is None:
            raise SystemExit("--profile needs py-spy on PATH: pip install py-spy")
        self.out = out
        self._command = [spy, "record", "--pid", str(pid), "--subprocesses", "--rate", str(rate)]
        self._command += ["--format", "raw", "--output", str(out), "--nonblocking", "--gil"]
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profiler:
        self._proc = subprocess.Popen(self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        self._proc.send_signal(2)  # SIGINT: py-spy writes what it sampled and exits
        self._proc.wait(timeout=60)


def summarise(collapsed: Path, top: int = 25) -> str:
    """The frames present in the most samples (each counted once per stack), as shares of all samples."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = {
            frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
            for frame in stack.split(";")
        }
        for frame in frames:
            inclusive[frame] += n
    lines = [f"{total} samples; frames in the most of them (inclusive):"]
    for frame, n in inclusive.most_common(top):
        lines.append(f"  {100 * n / max(1, total):5.1f} %  {frame}")
    return "\n".join(lines)
