"""Run one tool call under its deadline and its tool's concurrency limit.

Async tools run in the event loop and are cancelled when the deadline passes. Sync tools run in the
plugin's bounded thread pool; when the deadline passes, the call's ``ToolContext`` is marked cancelled
and (at once, or after a short grace for a tool that takes a ``ToolContext`` and may stop by itself)
``ToolCancelled`` is raised inside the worker thread (``PyThreadState_SetAsyncExc``), which stops
pure-Python work at its next bytecode; a call blocked inside C (a socket read, ``time.sleep``) stops
when that returns. Until a sync call has really stopped it keeps its concurrency slot, so a tool that
ignores its deadline is refused with 429 instead of piling up threads.
"""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import enum
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cozegate.plugins.context import ToolCancelled, ToolContext


class DeadlineExceededError(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"the call did not finish within {seconds:g} s")
        self.seconds = seconds


class ToolBusyError(Exception):
    pass


class ConcurrencySlots:
    """At most ``limit`` calls of one tool at a time (event-loop confined, no locking needed)."""

    __slots__ = ("in_use", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def acquire(self) -> None:
        if self.in_use >= self.limit:
            raise ToolBusyError
        self.in_use += 1

    def release(self) -> None:
        self.in_use -= 1


class _State(enum.Enum):
    PENDING = 1
    RUNNING = 2
    FINISHED = 3
    CANCELLED = 4


def _raise_in_thread(thread_id: int, exception: type[BaseException] | None) -> None:
    target = ctypes.py_object(exception) if exception is not None else None  # None (NULL) clears a pending one
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), target)


class _ThreadCall:
    """One sync call in a worker thread, interruptible until it finishes and never after."""

    def __init__(self, function: Callable[..., Any], kwargs: dict[str, Any], context: ToolContext | None) -> None:
        self._function = function
        self._kwargs = kwargs
        self._context = context
        self._lock = threading.Lock()
        self._state = _State.PENDING
        self._thread_id = 0

    def run(self) -> Any:
        with self._lock:
            if self._state is _State.CANCELLED:
                raise ToolCancelled
            self._state = _State.RUNNING
            self._thread_id = threading.get_ident()
        try:
            return self._function(**self._kwargs)
        finally:
            with self._lock:
                if self._state is _State.RUNNING:
                    self._state = _State.FINISHED
                else:  # cancelled while running: drop the interrupt if it has not been delivered yet
                    _raise_in_thread(self._thread_id, None)

    def cancel(self) -> bool:
        """Tell the call it is cancelled (``ToolContext.cancelled``); a call not started yet never starts.

        True if the call had started (its thread may still be busy with it).
        """
        if self._context is not None:
            self._context.cancel()
        with self._lock:
            if self._state is _State.PENDING:
                self._state = _State.CANCELLED
                return False
            return self._thread_id != 0

    def interrupt(self) -> None:
        """Raise ``ToolCancelled`` in the thread if the call is still running."""
        with self._lock:
            if self._state is _State.RUNNING:
                _raise_in_thread(self._thread_id, ToolCancelled)
                self._state = _State.CANCELLED


async def run_async_tool(
    function: Callable[..., Any], kwargs: dict[str, Any], seconds: float, slots: ConcurrencySlots
) -> Any:
    slots.acquire()
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            return await function(**kwargs)
    except TimeoutError:
        if deadline.expired():
            raise DeadlineExceededError(seconds) from None
        raise  # the tool's own timeout (say, of an upstream call) is the tool's failure, not its deadline
    finally:
        slots.release()


class ThreadsStuckError(ToolBusyError):
    """Every thread of the plugin is held by a call that overran its deadline and has not stopped yet."""


class ToolThreads:
    """A plugin's bounded thread pool for sync tools, and the calls running in it.

    Calls past their deadline that have not stopped yet are counted: while they hold every thread, new
    sync calls are refused at once (``ThreadsStuckError``) instead of queueing until their own deadline.
    """

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._live: set[_ThreadCall] = set()
        self.overrunning = 0

    async def run(
        self,
        function: Callable[..., Any],
        kwargs: dict[str, Any],
        context: ToolContext | None,
        seconds: float,
        slots: ConcurrencySlots,
        grace: float = 0.0,
    ) -> Any:
        """``grace``: how long a cancelled call may take to stop by itself before it is interrupted."""
        if self.overrunning >= self.size:
            raise ThreadsStuckError
        slots.acquire()
        call = _ThreadCall(function, kwargs, context)
        try:  # the tool runs in a copy of this context: its log lines carry the request id
            future = asyncio.get_running_loop().run_in_executor(
                self._executor(), contextvars.copy_context().run, call.run
            )
        except BaseException:
            slots.release()
            raise
        self._live.add(call)
        try:
            done, _ = await asyncio.wait((future,), timeout=seconds)
        except BaseException:  # the request itself was cancelled (shutdown, client gone): no grace
            self._abandon(call, future, slots, 0.0)
            raise
        if not done:
            self._abandon(call, future, slots, grace)
            raise DeadlineExceededError(seconds)
        self._live.discard(call)
        slots.release()
        return future.result()

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.size, thread_name_prefix=f"plugin-{self._name}")
        return self._pool

    def _abandon(self, call: _ThreadCall, future: asyncio.Future[Any], slots: ConcurrencySlots, grace: float) -> None:
        """Cancel the call; its slot is freed only once its thread has let go of it."""
        started = call.cancel()
        if started:
            self.overrunning += 1
        if grace > 0:
            asyncio.get_running_loop().call_later(grace, call.interrupt)
        else:
            call.interrupt()

        def finished(done: asyncio.Future[Any]) -> None:
            slots.release()
            self._live.discard(call)
            if started:
                self.overrunning -= 1
            if not done.cancelled():
                done.exception()  # retrieved: the ToolCancelled (or a late error) is expected, not news

        future.add_done_callback(finished)

    def close(self) -> None:
        """Interrupt every running call and stop the pool (a call blocked in C still ends on its own)."""
        for call in list(self._live):
            call.cancel()
            call.interrupt()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
