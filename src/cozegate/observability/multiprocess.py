"""Prometheus multiprocess mode for ``cozegate serve`` with several server processes.

The parent prepares an empty folder and names it in ``PROMETHEUS_MULTIPROC_DIR`` before any worker
starts (prometheus_client decides how it stores values when it is first imported, in each worker);
each worker marks itself dead when it stops, so its live gauges leave the sums.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(default: Path) -> Path:
    """Empty the folder named by ``PROMETHEUS_MULTIPROC_DIR`` (``default`` when unset) and export its name.

    Files of an earlier run would otherwise be summed with this one's.
    """
    folder = Path(os.environ.get(ENV) or default)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[ENV] = str(folder)
    return folder


def mark_this_process_dead() -> None:
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
