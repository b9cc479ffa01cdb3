"""Group commit: many concurrent callers share one database transaction.

Callers ``submit`` an item and await its result; one flusher task drains whatever has queued up
(up to ``max_batch``) into a single call of ``flush``. While one batch commits, the next one forms,
so batches grow with load and an idle system commits single items without waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


class BatcherClosedError(RuntimeError):
    pass


class Batcher(Generic[T, R]):
    def __init__(
        self,
        flush: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int,
        name: str,
        on_flushed: Callable[[int], None] | None = None,
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._name = name
        self._on_flushed = on_flushed
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def backlog(self) -> int:
        """Items submitted and not yet committed."""
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"batcher:{self._name}")

    def submit(self, item: T) -> asyncio.Future[R]:
        if self._closed:
            raise BatcherClosedError(f"{self._name} is shutting down")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._wakeup.set()
        return future

    async def close(self) -> None:
        """Stop taking items and commit everything already submitted."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            items = [item for item, _ in batch]
            try:
                results = await self._flush(items)
            except Exception as exc:  # every caller of the failed batch learns it; nothing was committed
                log.warning("group commit of %s failed: %s", self._name, exc.__class__.__name__, exc_info=exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            if self._on_flushed is not None:
                self._on_flushed(len(batch))
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
