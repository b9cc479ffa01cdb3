"""Event-to-reply latency through cozegate vs calling the Coze simulator directly with cozepy.

Same run, same simulator (bot-echo, no added latency), 64 concurrent conversations, closed loop:
each conversation sends its next message when the previous reply arrived.

* through cozegate: signed webhook in → inbox → worker → cozepy stream to the simulator → signed
  reply POSTed to a receiver in this process; latency = send start → reply received.
* direct: cozepy ``AsyncCoze.chat.stream`` against the simulator until the chat completes.

CPU time (user + system, read from /proc/<pid>/stat, the process and its children) is measured
around each phase: the cozegate process tree per reply and the simulator per chat, so the ratio of
the two says how much work cozegate adds per message, whatever else the machine is doing.

    .venv/bin/python bench/pipeline/run.py                     # 64 conversations x 20 messages
    .venv/bin/python bench/pipeline/run.py --conversations 16 --messages 10
    .venv/bin/python bench/pipeline/run.py --profile /tmp/serve.stacks   # + where the CPU went (py-spy)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cozepy import AsyncCoze, AsyncTokenAuth, ChatEventType, Message
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from bench.common.cpu import tree_cpu_seconds, tree_cpu_split  # noqa: E402
from bench.common.profile import Profiler, summarise  # noqa: E402

from cozegate.tenants import new_standard_secret  # noqa: E402
from cozegate.tenants.model import decode_standard_secret  # noqa: E402
from cozegate.webhooks import sign_standard  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Receiver:
    """Reply endpoint: wakes the waiting sender of each reply."""

    def __init__(self) -> None:
        self.port = free_port()
        self.waiters: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()
        app = Starlette(routes=[Route("/replies", self.receive, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, port=self.port, log_level="warning"))
        threading.Thread(target=self.server.run, daemon=True).start()
        while not self.server.started:
            time.sleep(0.01)

    async def receive(self, request: Request) -> Response:
        now = time.perf_counter()
        event_id = json.loads(await request.body())["in_reply_to"]
        with self.lock:
            self.arrived.setdefault(event_id, now)
            waiter = self.waiters.get(event_id)
        if waiter:
            waiter[0].call_soon_threadsafe(waiter[1].set)
        return Response(status_code=204)

    def expect(self, event_id: str) -> asyncio.Event:
        event = asyncio.Event()
        with self.lock:
            self.waiters[event_id] = (asyncio.get_running_loop(), event)
            if event_id in self.arrived:
                event.set()
        return event


async def through_gateway(
    url: str, key: bytes, receiver: Receiver, args: argparse.Namespace
) -> tuple[list[float], float]:
    latencies: list[float] = []
    tag = secrets.token_hex(3)
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=args.conversations)) as client:

        async def conversation(c: int) -> None:
            for m in range(args.messages):
                event_id = f"{tag}-{c}-{m}"
                body = json.dumps(
                    {
                        "event_type": "message_create",
                        "event_id": event_id,
                        "conversation_id": f"{tag}-{c}",
                        "user_id": f"u{c}",
                        "message": {"role": "user", "content": f"hi {m}"},
                    }
                ).encode()
                now = int(time.time())
                headers = {
                    "content-type": "application/json",
                    "webhook-id": event_id,
                    "webhook-timestamp": str(now),
                    "webhook-signature": sign_standard(key, event_id, now, body),
                }
                waiter = receiver.expect(event_id)
                started = time.perf_counter()
                r = await client.post("/coze/webhook", content=body, headers=headers)
                r.raise_for_status()
                await asyncio.wait_for(waiter.wait(), 60)
                latencies.append(receiver.arrived[event_id] - started)

        t0 = time.perf_counter()
        await asyncio.gather(*(conversation(c) for c in range(args.conversations)))
        return latencies, time.perf_counter() - t0


async def direct(sim_url: str, args: argparse.Namespace) -> tuple[list[float], float]:
    coze = AsyncCoze(auth=AsyncTokenAuth("test-token"), base_url=sim_url)
    latencies: list[float] = []

    async def conversation(c: int) -> None:
        conv = await coze.conversations.create(bot_id="bot-echo")
        for m in range(args.messages):
            started = time.perf_counter()
            async for event in coze.chat.stream(
                bot_id="bot-echo",
                user_id=f"u{c}",
                conversation_id=conv.id,
                additional_messages=[Message.build_user_question_text(f"hi {m}")],
            ):
                if event.event == ChatEventType.CONVERSATION_CHAT_COMPLETED:
                    break
            latencies.append(time.perf_counter() - started)

    t0 = time.perf_counter()
    await asyncio.gather(*(conversation(c) for c in range(args.conversations)))
    return latencies, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=64)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--profile", type=Path, help="sample the serve process with py-spy into this file")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cozegate-pipeline-"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    sim_port, gate_port = free_port(), free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "cozegate", "sim", "--port", str(sim_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    receiver = Receiver()
    secret = new_standard_secret()
    (work / "tenants.yaml").write_text(
        f"tenants:\n  default:\n    secrets: [{{value: {secret}}}]\n    bot_id: bot-echo\n"
        f"    reply_url: http://127.0.0.1:{receiver.port}/replies\n"
    )
    gate_env = {
        **env,
        "COZEGATE_STATE_DIR": str(work),
        "COZEGATE_TENANTS_FILE": str(work / "tenants.yaml"),
        "COZEGATE_PORT": str(gate_port),
        "COZEGATE_COZE_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "COZEGATE_LOG_LEVEL": os.environ.get("COZEGATE_LOG_LEVEL", "WARNING"),
        "COZEGATE_WORKERS": str(max(16, args.conversations)),
        "COZEGATE_POLL_INTERVAL_SECONDS": "0.05",
    }
    gate = subprocess.Popen(
        [sys.executable, "-m", "cozegate", "serve"],
        env=gate_env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{sim_port}/sim/requests")
        wait_http(f"http://127.0.0.1:{gate_port}/readyz")
        sim_before = tree_cpu_seconds(sim.pid)
        direct_lat, direct_secs = asyncio.run(direct(f"http://127.0.0.1:{sim_port}", args))
        sim_direct_cpu = tree_cpu_seconds(sim.pid) - sim_before
        sim_before, gate_before = tree_cpu_seconds(sim.pid), tree_cpu_split(gate.pid)
        with Profiler(gate.pid, args.profile) if args.profile else contextlib.nullcontext():
            gate_lat, gate_secs = asyncio.run(
                through_gateway(f"http://127.0.0.1:{gate_port}", decode_standard_secret(secret), receiver, args)
            )
        gate_user, gate_system = (
            after - before for after, before in zip(tree_cpu_split(gate.pid), gate_before, strict=True)
        )
        gate_cpu = gate_user + gate_system
        sim_gate_cpu = tree_cpu_seconds(sim.pid) - sim_before
    finally:
        for proc in (gate, sim):
            proc.terminate()
            proc.wait(timeout=30)
    n = args.conversations * args.messages
    rows: list[tuple[str, Any, ...]] = [
        ("direct cozepy → simulator", statistics.median(direct_lat), percentile(direct_lat, 0.99), n / direct_secs),
        ("through cozegate", statistics.median(gate_lat), percentile(gate_lat, 0.99), n / gate_secs),
    ]
    print(f"{args.conversations} conversations x {args.messages} messages, closed loop")
    print(f"{'path':28s} {'p50 ms':>8s} {'p99 ms':>8s} {'per s':>8s}")
    for name, p50, p99, rate in rows:
        print(f"{name:28s} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {rate:8.0f}")
    print(f"overhead ratio (p50 through cozegate / p50 direct): {rows[1][1] / rows[0][1]:.2f}")
    per_reply, per_chat = gate_cpu / n * 1000, sim_gate_cpu / n * 1000
    print(
        f"cozegate CPU per reply:  {per_reply:6.2f} ms (serve process tree, {gate_cpu:.2f} s for {n} replies:"
        f" {gate_user:.2f} s user, {gate_system:.2f} s system)"
    )
    print(f"simulator CPU per chat:  {per_chat:6.2f} ms same phase ({sim_direct_cpu / n * 1000:.2f} ms direct)")
    print(f"CPU ratio (cozegate per reply / simulator per chat): {per_reply / per_chat:.1f}")
    if args.profile:
        print(summarise(args.profile))


if __name__ == "__main__":
    main()
