"""Chat proxy benchmark: POST /v1/chat through cozegate vs cozepy straight to the same Coze simulator,
same run. Measures time to the first event, to the first answer piece and to the end of the stream
(p50/p99, closed loop: each client sends its next chat when the last one ended), and the ratio
cozegate/direct of the medians. Also rate limiter decisions per second (a user and a tenant bucket
per decision; in-process and Redis).

    .venv/bin/python bench/chat_proxy/run.py                        # 8 clients x 40 chats
    .venv/bin/python bench/chat_proxy/run.py --clients 16 --chats 20 --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from bench.common.wrk import wait_port  # noqa: E402

MESSAGE = "hello there, how is the weather in Hangzhou today and tomorrow"
ADMIN = "bench-admin-token"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def closed_loop(clients: int, chats: int, chat: Callable[[int], AsyncIterator[bool]]) -> dict[str, list[float]]:
    """Run ``clients`` concurrent loops of ``chats`` chats each; ``chat(n)`` yields, per event, whether it
    carries a piece of the answer. Times to the first event, the first piece and the end."""
    times: dict[str, list[float]] = {"first_event": [], "first_piece": [], "total": []}

    async def client(n: int) -> None:
        for _ in range(chats):
            started = time.perf_counter()
            first_event = first_piece = None
            async for is_piece in chat(n):
                now = time.perf_counter() - started
                first_event = first_event if first_event is not None else now
                if is_piece and first_piece is None:
                    first_piece = now
            times["first_event"].append(first_event or 0.0)
            times["first_piece"].append(first_piece or 0.0)
            times["total"].append(time.perf_counter() - started)

    await asyncio.gather(*(client(n) for n in range(clients)))
    return times


async def direct(sim_url: str, clients: int, chats: int) -> dict[str, list[float]]:
    from cozepy import AsyncCoze, AsyncTokenAuth, ChatEventType, Message

    coze = AsyncCoze(auth=AsyncTokenAuth("test-token"), base_url=sim_url)
    question = [Message.build_user_question_text(MESSAGE)]

    async def chat(n: int) -> AsyncIterator[bool]:
        async for event in coze.chat.stream(bot_id="bot-echo", user_id=f"u{n}", additional_messages=question):
            yield event.event == ChatEventType.CONVERSATION_MESSAGE_DELTA

    return await closed_loop(clients, chats, chat)


async def through(gate_url: str, clients: int, chats: int) -> dict[str, list[float]]:
    import httpx

    headers = {"authorization": f"Bearer {ADMIN}"}
    body = {"message": MESSAGE, "tenant": "default"}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients * 2)) as http:

        async def chat(n: int) -> AsyncIterator[bool]:
            async with http.stream("POST", gate_url + "/v1/chat", json=body, headers=headers) as response:
                assert response.status_code == 200, await response.aread()
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        yield line == "event: delta"

        return await closed_loop(clients, chats, chat)


async def limiter_rate(redis_url: str | None) -> dict[str, float]:
    from cozegate.rate_limits import MemoryTokenBuckets, RedisTokenBuckets

    rates: dict[str, float] = {}
    memory = MemoryTokenBuckets()
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < 1.0:
        for _ in range(1000):
            await memory.take([(f"u{n % 1000}", 1e6, 1e6), ("tenant", 1e9, 1e9)])
            n += 1
    rates["in-process"] = n / (time.perf_counter() - started)
    if redis_url:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(redis_url)
        buckets = RedisTokenBuckets(client, f"bench:{secrets.token_hex(4)}:")
        count = 0

        async def worker(w: int) -> None:
            nonlocal count
            end = time.perf_counter() + 2.0
            while time.perf_counter() < end:
                await buckets.take([(f"u{w}", 1e6, 1e6), ("tenant", 1e9, 1e9)])
                count += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(64)))
        rates["redis (64 concurrent)"] = count / (time.perf_counter() - started)
        await client.aclose()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--chats", type=int, default=40, help="chats per client")
    parser.add_argument("--redis-url", default=None, help="also measure the Redis token bucket")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cozegate-bench-chat-"))
    sim_port, gate_port = 18810, 18811
    python = sys.executable
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    sim = subprocess.Popen(
        [python, "-m", "cozegate", "sim", "--port", str(sim_port)], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    (work / "tenants.yaml").write_text(
        "tenants:\n  default:\n    secrets: [{value: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}]\n    bot_id: bot-echo\n"
    )
    gate_env = {
        **env,
        "COZEGATE_STATE_DIR": str(work),
        "COZEGATE_TENANTS_FILE": str(work / "tenants.yaml"),
        "COZEGATE_PORT": str(gate_port),
        "COZEGATE_COZE_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "COZEGATE_ADMIN_TOKEN": ADMIN,
        "COZEGATE_LOG_LEVEL": "WARNING",
        "COZEGATE_CHAT_USER_RATE": "1000000",
        "COZEGATE_CHAT_USER_BURST": "1000000",
        "COZEGATE_CHAT_TENANT_RATE": "1000000",
        "COZEGATE_CHAT_TENANT_BURST": "1000000",
    }
    gate = subprocess.Popen([python, "-m", "cozegate", "serve"], env=gate_env, cwd=work)
    try:
        wait_port(sim_port)
        wait_port(gate_port)
        time.sleep(1)
        asyncio.run(through(f"http://127.0.0.1:{gate_port}", 2, 3))  # warm both paths
        asyncio.run(direct(f"http://127.0.0.1:{sim_port}", 2, 3))
        results = {
            "direct (cozepy -> simulator)": asyncio.run(
                direct(f"http://127.0.0.1:{sim_port}", args.clients, args.chats)
            ),
            "through cozegate /v1/chat": asyncio.run(
                through(f"http://127.0.0.1:{gate_port}", args.clients, args.chats)
            ),
        }
    finally:
        gate.terminate()
        sim.terminate()
        gate.wait(timeout=30)
        sim.wait(timeout=30)

    print(f"\n{args.clients} clients x {args.chats} chats, closed loop, message of {len(MESSAGE.split())} words")
    print(f"{'path':30s} {'first event p50/p99 ms':>24s} {'first piece p50/p99 ms':>24s} {'total p50/p99 ms':>20s}")
    for name, times in results.items():
        cells = [
            f"{statistics.median(times[k]) * 1000:8.1f} / {percentile(times[k], 0.99) * 1000:7.1f}"
            for k in ("first_event", "first_piece", "total")
        ]
        print(f"{name:30s} {cells[0]:>24s} {cells[1]:>24s} {cells[2]:>20s}")
    d, t = results["direct (cozepy -> simulator)"], results["through cozegate /v1/chat"]
    for k in ("first_event", "first_piece", "total"):
        print(f"ratio cozegate/direct, median {k}: {statistics.median(t[k]) / statistics.median(d[k]):.2f}")
    for name, rate in asyncio.run(limiter_rate(args.redis_url)).items():
        print(f"rate limiter decisions/s, {name}: {rate:,.0f}")


if __name__ == "__main__":
    main()
