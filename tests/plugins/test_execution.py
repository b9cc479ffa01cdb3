"""Deadlines of sync tools: interrupting a worker thread must hit the call it was meant for, and only it."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cozegate.plugins.context import ToolContext
from cozegate.plugins.execution import ConcurrencySlots, DeadlineExceededError, ToolBusyError, run_sync_tool


def context() -> ToolContext:
    return ToolContext(request_id="r", plugin="p", tool="t", deadline=time.monotonic() + 1)


def busy_for(seconds: float) -> float:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return seconds


async def test_interrupts_never_leak_into_later_calls_on_the_same_threads() -> None:
    """Calls finishing right at their deadline race the interrupt; the threads then run clean calls that
    must all complete. A leaked interrupt would surface as ToolCancelled in one of them."""
    pool = ThreadPoolExecutor(4)
    slots = ConcurrencySlots(1000)
    outcomes = {"done": 0, "deadline": 0}
    try:
        for round_ in range(40):
            racing = [run_sync_tool(busy_for, {"seconds": 0.002}, context(), 0.002, slots, pool) for _ in range(8)]
            for result in await asyncio.gather(*racing, return_exceptions=True):
                if isinstance(result, DeadlineExceededError):
                    outcomes["deadline"] += 1
                else:
                    assert result == 0.002, f"round {round_}: {result!r}"
                    outcomes["done"] += 1
            clean = [run_sync_tool(busy_for, {"seconds": 0.001}, context(), 5.0, slots, pool) for _ in range(8)]
            assert await asyncio.gather(*clean) == [0.001] * 8
            while slots.in_use:  # interrupted calls give their slot back once their thread has stopped
                await asyncio.sleep(0.001)
    finally:
        pool.shutdown(wait=True)
    assert outcomes["deadline"] > 0, outcomes  # the race was really exercised
    assert outcomes["done"] + outcomes["deadline"] == 320


async def test_a_call_still_queued_at_its_deadline_never_starts() -> None:
    pool = ThreadPoolExecutor(1)
    slots = ConcurrencySlots(10)
    started = threading.Event()
    try:
        blocker = asyncio.ensure_future(run_sync_tool(busy_for, {"seconds": 0.3}, context(), 5.0, slots, pool))
        while slots.in_use == 0:  # the blocker has the only thread
            await asyncio.sleep(0.001)
        with pytest.raises(DeadlineExceededError):
            await run_sync_tool(started.set, {}, context(), 0.05, slots, pool)
        await blocker
        await asyncio.sleep(0.05)
        assert not started.is_set()
        assert slots.in_use == 0
    finally:
        pool.shutdown(wait=True)


async def test_full_slots_refuse_at_once() -> None:
    slots = ConcurrencySlots(1)
    slots.acquire()
    with ThreadPoolExecutor(1) as pool, pytest.raises(ToolBusyError):
        await run_sync_tool(busy_for, {"seconds": 0}, context(), 1.0, slots, pool)
