"""Deadlines of tool calls: what is stopped, what is reported, and that interrupting a worker thread hits
the call it was meant for and only it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from cozegate.observability.logging import request_id_var
from cozegate.plugins.context import ToolContext
from cozegate.plugins.execution import (
    ConcurrencySlots,
    DeadlineExceededError,
    ThreadsStuckError,
    ToolBusyError,
    ToolThreads,
    run_async_tool,
)


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
    threads = ToolThreads(4, "race")
    slots = ConcurrencySlots(1000)
    outcomes = {"done": 0, "deadline": 0}
    try:
        for round_ in range(40):
            racing = [threads.run(busy_for, {"seconds": 0.002}, context(), 0.002, slots) for _ in range(8)]
            for result in await asyncio.gather(*racing, return_exceptions=True):
                if isinstance(result, DeadlineExceededError):
                    outcomes["deadline"] += 1
                else:
                    assert result == 0.002, f"round {round_}: {result!r}"
                    outcomes["done"] += 1
            clean = [threads.run(busy_for, {"seconds": 0.001}, context(), 5.0, slots) for _ in range(8)]
            assert await asyncio.gather(*clean) == [0.001] * 8
            while slots.in_use:  # interrupted calls give their slot back once their thread has stopped
                await asyncio.sleep(0.001)
    finally:
        threads.close()
    assert outcomes["deadline"] > 0, outcomes  # the race was really exercised
    assert outcomes["done"] + outcomes["deadline"] == 320
    assert threads.overrunning == 0


async def test_a_call_still_queued_at_its_deadline_never_starts() -> None:
    threads = ToolThreads(1, "queue")
    slots = ConcurrencySlots(10)
    started = threading.Event()
    try:
        blocker = asyncio.ensure_future(threads.run(busy_for, {"seconds": 0.3}, context(), 5.0, slots))
        while slots.in_use == 0:  # the blocker has the only thread
            await asyncio.sleep(0.001)
        with pytest.raises(DeadlineExceededError):
            await threads.run(started.set, {}, context(), 0.05, slots)
        await blocker
        await asyncio.sleep(0.05)
        assert not started.is_set()
        assert slots.in_use == 0
    finally:
        threads.close()


async def test_full_slots_refuse_at_once() -> None:
    slots = ConcurrencySlots(1)
    slots.acquire()
    threads = ToolThreads(1, "full")
    with pytest.raises(ToolBusyError):
        await threads.run(busy_for, {"seconds": 0}, context(), 1.0, slots)
    threads.close()


async def test_threads_held_by_overrunning_calls_refuse_new_calls_at_once() -> None:
    threads = ToolThreads(2, "stuck")
    release = threading.Event()
    try:
        for _ in range(2):  # blocked in C (Event.wait): the interrupt cannot land until it returns
            with pytest.raises(DeadlineExceededError):
                await threads.run(release.wait, {"timeout": 10}, context(), 0.05, ConcurrencySlots(5))
        assert threads.overrunning == 2
        with pytest.raises(ThreadsStuckError):
            await threads.run(busy_for, {"seconds": 0}, context(), 1.0, ConcurrencySlots(5))
        release.set()
        while threads.overrunning:
            await asyncio.sleep(0.01)
        assert await threads.run(busy_for, {"seconds": 0}, context(), 1.0, ConcurrencySlots(5)) == 0
    finally:
        release.set()
        threads.close()


async def test_close_interrupts_running_calls() -> None:
    threads = ToolThreads(1, "close")
    steps = [0]

    def spin() -> None:
        while True:
            steps[0] += 1
            time.sleep(0.001)

    call = asyncio.ensure_future(threads.run(spin, {}, context(), 30.0, ConcurrencySlots(1)))
    while steps[0] < 5:
        await asyncio.sleep(0.005)
    threads.close()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await asyncio.sleep(0.05)
    seen = steps[0]
    await asyncio.sleep(0.1)
    assert steps[0] == seen


async def test_sync_tools_see_the_request_id_of_their_call() -> None:
    threads = ToolThreads(1, "ctx")
    token = request_id_var.set("req-42")
    try:
        assert await threads.run(request_id_var.get, {}, None, 1.0, ConcurrencySlots(1)) == "req-42"
    finally:
        request_id_var.reset(token)
        threads.close()


async def test_an_async_tools_own_timeout_is_its_failure_not_the_deadline() -> None:
    async def calls_upstream() -> None:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)

    with pytest.raises(TimeoutError):
        await run_async_tool(calls_upstream, {}, 5.0, ConcurrencySlots(1))
    with pytest.raises(DeadlineExceededError):
        await run_async_tool(asyncio.sleep, {"delay": 1}, 0.01, ConcurrencySlots(1))
