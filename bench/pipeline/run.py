"""Event-to-reply latency and CPU through cozegate vs calling the Coze simulator directly with cozepy.

Same run, same simulator (``cozegate sim``, bot-echo, no added latency), 100 concurrent conversations
of 6 messages by default, closed loop: each conversation sends its next message when the previous reply
arrived.

* through cozegate: signed webhook in → inbox → worker → cozepy stream to the simulator → signed
  reply POSTed to a receiver in this process; latency = send start → reply received. One setup per
  ``--processes`` value (and ``--separate`` serve processes on one database), each on a fresh database;
  several setups print the scaling factor of replies/s against the first.
* direct: cozepy ``AsyncCoze.chat.stream`` against the simulator until the chat completes.

CPU time (user + system, read from /proc/<pid>/stat, the process and its children) is measured
around each phase: the cozegate process tree(s) per reply and the simulator per chat, so the ratio of
the two says how much work cozegate adds per message, whatever else the machine is doing.

    .venv/bin/python bench/pipeline/run.py                          # SQLite, one serve process
    .venv/bin/python bench/pipeline/run.py --conversations 20 --messages 30
    .venv/bin/python bench/pipeline/run.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test \
        --redis-url redis://127.0.0.1:6379/0 --processes 1,2 --separate 2
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
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from cozepy import AsyncCoze, AsyncTokenAuth, ChatEventType, Message
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from bench.common.backends import drop_redis_prefix, drop_schema, fresh_schema, new_redis_prefix  # noqa: E402
from bench.common.cpu import machine_busy_seconds, tree_cpu_seconds, tree_cpu_split  # noqa: E402
from bench.common.profile import Profiler, summarise  # noqa: E402

from cozegate.http.outbound import outbound_client  # noqa: E402
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
    urls: list[str], key: bytes, receiver: Receiver, args: argparse.Namespace
) -> tuple[list[float], float]:
    """Conversation ``c`` talks to ``urls[c % len(urls)]`` (several serve processes: each its share)."""
    latencies: list[float] = []
    tag = secrets.token_hex(3)
    # the gateway's own client recipe (httpx's default pool churns and slows past 20 connections)
    async with outbound_client(httpx.Timeout(60.0), max_connections=args.conversations) as client:

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
                r = await client.post(urls[c % len(urls)] + "/coze/webhook", content=body, headers=headers)
                r.raise_for_status()
                await asyncio.wait_for(waiter.wait(), 60)
                latencies.append(receiver.arrived[event_id] - started)

        t0 = time.perf_counter()
        await asyncio.gather(*(conversation(c) for c in range(args.conversations)))
        return latencies, time.perf_counter() - t0


async def direct(sim_url: str, args: argparse.Namespace) -> tuple[list[float], float]:
    http = outbound_client(httpx.Timeout(60.0), max_connections=args.conversations)
    coze = AsyncCoze(auth=AsyncTokenAuth("test-token"), base_url=sim_url, http_client=http)  # type: ignore[arg-type]
    latencies: list[float] = []

    async def conversation(c: int) -> None:
        conv = await coze.conversations.create(bot_id="bot-echo")
        for m in range(args.messages):
            started = time.perf_counter()
            completed = None
            async for event in coze.chat.stream(  # read to its end: that closes the response
                bot_id="bot-echo",
                user_id=f"u{c}",
                conversation_id=conv.id,
                additional_messages=[Message.build_user_question_text(f"hi {m}")],
            ):
                if event.event == ChatEventType.CONVERSATION_CHAT_COMPLETED:
                    completed = time.perf_counter()
            assert completed is not None
            latencies.append(completed - started)

    t0 = time.perf_counter()
    await asyncio.gather(*(conversation(c) for c in range(args.conversations)))
    return latencies, time.perf_counter() - t0


@dataclass
class Setup:
    name: str
    processes: int  # COZEGATE_PROCESSES of each serve
    serves: int  # separate serve processes (each its own port)


@dataclass
class Outcome:
    setup: Setup
    latencies: list[float]
    seconds: float
    cpu_user: float
    cpu_system: float
    sim_cpu: float
    load_cpu: float  # this process: the senders and the reply receiver
    machine_busy: float  # share of all cores busy during the phase (everything on the machine)


def setups(args: argparse.Namespace) -> list[Setup]:
    found = [Setup(f"serve --processes {n}" if n > 1 else "serve", n, 1) for n in args.processes]
    if args.separate:
        found.append(Setup(f"{args.separate} separate serve", 1, args.separate))
    return found


def run_setup(
    setup: Setup,
    base_env: dict[str, str],
    work: Path,
    sim: subprocess.Popen[bytes],
    secret: str,
    receiver: Receiver,
    args: argparse.Namespace,
) -> Outcome:
    env = {**base_env, "COZEGATE_PROCESSES": str(setup.processes)}
    schema = None
    if args.database_url:
        env["COZEGATE_DATABASE_URL"] = args.database_url
        env["COZEGATE_AUTO_MIGRATE"] = "true"
        if args.database_url.startswith("postgresql"):
            schema = env["COZEGATE_DATABASE_SCHEMA"] = fresh_schema(args.database_url)
    else:
        env["COZEGATE_DATABASE_URL"] = f"sqlite+aiosqlite:///{work / secrets.token_hex(3)}.db"
    if args.redis_url:
        env["COZEGATE_REDIS_URL"] = args.redis_url
        env["COZEGATE_REDIS_PREFIX"] = new_redis_prefix()
    ports = [free_port() for _ in range(setup.serves)]
    serves = [
        subprocess.Popen(
            [sys.executable, "-m", "cozegate", "serve"],
            env={**env, "COZEGATE_PORT": str(port)},
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url in urls:
            wait_http(url + "/readyz", timeout=90)
        sim_before = tree_cpu_seconds(sim.pid)
        before = [tree_cpu_split(p.pid) for p in serves]
        profiling = Profiler(serves[0].pid, args.profile) if args.profile else contextlib.nullcontext()
        load_before, machine_before = time.process_time(), machine_busy_seconds()
        with profiling:
            latencies, seconds = asyncio.run(through_gateway(urls, decode_standard_secret(secret), receiver, args))
        load_cpu = time.process_time() - load_before
        machine_after = machine_busy_seconds()
        busy = (machine_after[0] - machine_before[0]) / max(1e-9, machine_after[1] - machine_before[1])
        after = [tree_cpu_split(p.pid) for p in serves]
        user = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
        system = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
        return Outcome(setup, latencies, seconds, user, system, tree_cpu_seconds(sim.pid) - sim_before, load_cpu, busy)
    finally:
        for proc in serves:
            proc.terminate()
        for proc in serves:
            proc.wait(timeout=60)
        if schema is not None:
            drop_schema(args.database_url, schema)
        if args.redis_url:
            drop_redis_prefix(args.redis_url, env["COZEGATE_REDIS_PREFIX"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--messages", type=int, default=6)
    parser.add_argument("--profile", type=Path, help="sample the (first) serve process with py-spy into this file")
    parser.add_argument(
        "--database-url", default=None, help="default: a fresh SQLite file per setup; PostgreSQL: a fresh schema"
    )
    parser.add_argument("--redis-url", default=None, help="Redis (needed for more than one process)")
    parser.add_argument(
        "--processes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1],
        help="COZEGATE_PROCESSES of serve, comma-separated: one setup each (e.g. 1,2)",
    )
    parser.add_argument("--separate", type=int, default=0, help="also run this many separate serve processes")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cozegate-pipeline-"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    sim_port = free_port()
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
        "COZEGATE_COZE_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "COZEGATE_LOG_LEVEL": os.environ.get("COZEGATE_LOG_LEVEL", "WARNING"),
        "COZEGATE_WORKERS": str(max(16, args.conversations)),
        "COZEGATE_POLL_INTERVAL_SECONDS": "0.05",
    }
    outcomes: list[Outcome] = []
    try:
        wait_http(f"http://127.0.0.1:{sim_port}/sim/requests")
        sim_before = tree_cpu_seconds(sim.pid)
        direct_lat, direct_secs = asyncio.run(direct(f"http://127.0.0.1:{sim_port}", args))
        sim_direct_cpu = tree_cpu_seconds(sim.pid) - sim_before
        for setup in setups(args):
            outcomes.append(run_setup(setup, gate_env, work, sim, secret, receiver, args))
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    n = args.conversations * args.messages
    backend = "PostgreSQL" if (args.database_url or "").startswith("postgresql") else "SQLite"
    print(f"{args.conversations} conversations x {args.messages} messages, closed loop, {backend}")
    columns = ("p50 ms", 8), ("p99 ms", 8), ("per s", 8), ("CPU ms/reply", 13), ("sim ms/chat", 12), ("ratio", 6)
    columns += (("load ms/msg", 12), ("busy", 5))
    print(f"{'path':28s} " + " ".join(f"{name:>{width}s}" for name, width in columns))
    d50, d99 = statistics.median(direct_lat), percentile(direct_lat, 0.99)
    print(
        f"{'direct cozepy → simulator':28s} {d50 * 1000:8.1f} {d99 * 1000:8.1f} {n / direct_secs:8.0f}"
        f" {'':>13s} {sim_direct_cpu / n * 1000:12.2f}"
    )
    for o in outcomes:
        per_reply, per_chat = (o.cpu_user + o.cpu_system) / n * 1000, o.sim_cpu / n * 1000
        p50, p99 = statistics.median(o.latencies), percentile(o.latencies, 0.99)
        print(
            f"{o.setup.name:28s} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {n / o.seconds:8.0f} {per_reply:13.2f}"
            f" {per_chat:12.2f} {per_reply / per_chat:6.1f} {o.load_cpu / n * 1000:12.2f} {o.machine_busy:5.0%}"
        )
    print(
        "CPU ms/reply: the serve process tree(s), user + system, from /proc; ratio: per reply / the simulator's"
        " per chat in the same phase; load: this process (senders, reply receiver); busy: all cores, whole machine"
    )
    first = outcomes[0]
    for o in outcomes[1:]:
        print(f"scaling, {o.setup.name} vs {first.setup.name}: {first.seconds / o.seconds:.2f}x replies/s")
    if args.profile:
        print(summarise(args.profile))


if __name__ == "__main__":
    main()
