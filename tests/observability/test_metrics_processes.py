"""``cozegate serve`` with two server processes: ``/metrics`` sums both (Prometheus multiprocess mode),
whichever process answers the scrape."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.conftest import Backend
from tests.support.server import REPO, ServerProcess
from tests.support.signing import standard_headers


def per_process_accepted(folder: Path) -> dict[str, float]:
    """Webhook events each process acknowledged, read from its own counter file."""
    counts: dict[str, float] = {}
    for path in folder.glob("counter_*.db"):
        pid = path.stem.split("_", 1)[1]
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            metric, sample, *_ = json.loads(key)
            if metric == "cozegate_webhook_accepted" and sample == "cozegate_webhook_accepted_total":
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


def sample(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match, f"{series} not in the scrape"
    return float(match.group(1))


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@pytest.mark.parametrize("server_kind", ["uvicorn", "granian"])
def test_two_server_processes_report_summed_counters(backend: Backend, server_kind: str) -> None:
    env = backend.settings_env(COZEGATE_PROCESSES="2", COZEGATE_AUTO_MIGRATE="false", COZEGATE_SERVER=server_kind)
    migrate = subprocess.run(
        [sys.executable, "-m", "cozegate", "migrate"], env={**env, "PYTHONPATH": str(REPO)}, capture_output=True
    )
    assert migrate.returncode == 0, migrate.stderr
    server = ServerProcess(env, backend.tmp / "serve.log").start()
    folder = backend.tmp / "state" / "metrics"
    sent = 0

    def post(i: int) -> None:
        body = json.dumps({"event_type": "ping", "event_id": f"evt-{i}"}).encode()
        # a new connection each time: the kernel hands connections to either process
        r = httpx.post(f"{server.url}/webhooks/default", content=body, headers=standard_headers(backend.secret, body))
        assert r.status_code == 200, r.text

    try:
        with ThreadPoolExecutor(8) as pool:
            while sent < 800:
                list(pool.map(post, range(sent, sent + 40)))
                sent += 40
                counts = per_process_accepted(folder)
                if len([c for c in counts.values() if c > 0]) >= 2:
                    break
        counts = per_process_accepted(folder)
        assert len([c for c in counts.values() if c > 0]) == 2, f"one process served everything: {counts}"
        assert sum(counts.values()) == sent

        for _ in range(6):  # each scrape may be answered by either process: every one sees the sum
            scrape = httpx.get(f"{server.url}/metrics").text
            assert sample(scrape, 'cozegate_webhook_accepted_total{tenant="default"}') == sent
            assert sample(scrape, 'cozegate_http_requests_total{code="200",method="POST",route="webhook"}') == sent
            assert sample(scrape, 'cozegate_http_request_duration_seconds_count{route="webhook"}') == sent
    finally:
        assert server.stop(), server.logs()


def test_several_processes_need_the_shared_backends(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cozegate", "serve", "--processes", "2"],
        env={"PATH": "/usr/bin:/bin", "COZEGATE_STATE_DIR": str(tmp_path), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "COZEGATE_DATABASE_URL (PostgreSQL) and COZEGATE_REDIS_URL" in result.stderr
