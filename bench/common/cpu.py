"""CPU time of a process and its descendants, read from /proc/<pid>/stat (steadier than wall time)."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
    return raw[raw.rindex(")") + 2 :].split()


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def tree_cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid``, its live descendants, and the children it has already reaped."""
    tree = _children()
    user = system = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        fields = _stat(current)
        if fields is None:
            continue
        # fields[11..14] = utime, stime, cutime, cstime (stat fields 14-17)
        user += int(fields[11]) + int(fields[13])
        system += int(fields[12]) + int(fields[14])
        stack.extend(tree.get(current, []))
    return user / TICK, system / TICK


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid``, its live descendants, and the children it has already reaped."""
    return sum(tree_cpu_split(pid))


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return (total - idle) / TICK, total / TICK
