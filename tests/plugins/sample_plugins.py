"""Plugins the HTTP tests serve: one tool per behaviour under test.

Tokens of ``sample`` come from the file named by SAMPLE_TOKEN_FILE (so tests can rotate them);
``PROGRESS_DIR`` is where the long-running tools record each step, so a test can see them stop.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from cozegate.plugins import NO_AUTH, BearerToken, Plugin, ServiceToken, ToolContext, ToolError

plugin = Plugin(
    "sample",
    description="Tools that each show one behaviour of the plugin SDK.",
    auth=ServiceToken(file=os.environ.get("SAMPLE_TOKEN_FILE", "/nonexistent"), header="X-Api-Key"),
    deadline_seconds=0.5,
)


class Echoed(BaseModel):
    text: str = Field(description="The text, repeated")
    length: int = Field(description="Its length")


class Count(BaseModel):
    count: int = Field(description="A number")


def _progress(name: str) -> Path:
    return Path(os.environ["PROGRESS_DIR"]) / name


def _count(path: Path, step: int) -> None:
    """Record a step so that an interrupt at any point leaves the previous count readable: a plain
    ``write_text`` truncates first, and a stop landing between truncate and write left an empty file
    (read as 0 steps: "never ran")."""
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(str(step))
    os.replace(scratch, path)


@plugin.tool
async def echo(
    text: Annotated[str, Field(max_length=100, description="What to echo")],
    times: Annotated[int, Field(ge=1, le=5, description="How often")] = 1,
) -> Echoed:
    """Repeat a text."""
    repeated = text * times
    return Echoed(text=repeated, length=len(repeated))


@plugin.tool
def add(a: int, b: int) -> int:
    """Add two integers (a sync tool with a primitive result)."""
    return a + b


@plugin.tool(deadline_seconds=2)  # long enough to start even on a loaded machine
def spin(marker: Annotated[str, Field(pattern=r"^[a-z0-9]+$")]) -> Count:
    """Sync work that never ends by itself: counts in a file until it is stopped."""
    path = _progress(marker)
    step = 0
    while True:
        step += 1
        _count(path, step)
        time.sleep(0.005)


@plugin.tool(deadline_seconds=2)  # long enough to start even on a loaded machine
async def spin_async(marker: Annotated[str, Field(pattern=r"^[a-z0-9]+$")]) -> Count:
    """Async work that never ends by itself."""
    path = _progress(marker)
    step = 0
    while True:
        step += 1
        _count(path, step)
        await asyncio.sleep(0.005)


@plugin.tool(deadline_seconds=2)  # long enough to start even on a loaded machine
def polite_spin(marker: Annotated[str, Field(pattern=r"^[a-z0-9]+$")], ctx: ToolContext) -> Count:
    """Sync work that checks its context and stops itself when cancelled."""
    path = _progress(marker)
    step = 0
    while not ctx.cancelled:
        step += 1
        _count(path, step)
        time.sleep(0.005)
    _progress(marker + "done").write_text(f"stopped with {ctx.remaining():.3f} s left")
    return Count(count=step)


@plugin.tool(max_concurrency=1, deadline_seconds=5)
def hold(seconds: Annotated[float, Field(ge=0, le=2)], marker: str = "") -> Count:
    """Hold the tool's single slot for a while (writing `marker` once it holds it)."""
    if marker:
        _progress(marker).write_text("holding")
    time.sleep(seconds)
    return Count(count=1)


@plugin.tool(max_concurrency=1, deadline_seconds=0.2)
def stubborn(seconds: Annotated[float, Field(ge=0, le=2)]) -> Count:
    """Block inside C (time.sleep) past the deadline: it cannot be interrupted until the sleep returns."""
    time.sleep(seconds)
    return Count(count=1)


@plugin.tool
def explode(note: str) -> Count:
    """Fail with an exception carrying a secret."""
    raise RuntimeError(f"database password is hunter2 ({note})")


@plugin.tool
def wrong_output() -> Count:
    """Return something that is not a Count."""
    return "not a count"  # type: ignore[return-value]


@plugin.tool
def find(order_id: str) -> Count:
    """A business error the bot should read."""
    raise ToolError(f"there is no order {order_id}", code="order_not_found")


@plugin.tool
def whoami(ctx: ToolContext) -> Echoed:
    """Echo what Coze told the plugin about the call (bot and conversation)."""
    text = f"{ctx.bot_id}/{ctx.conversation_id}/{ctx.request_id}"
    return Echoed(text=text, length=len(text))


bearer = Plugin("bearer_sample", description="A plugin behind a bearer token.", auth=BearerToken(tokens=["tok-b"]))
query = Plugin(
    "query_sample",
    description="A plugin whose token is a query parameter.",
    auth=ServiceToken(tokens=["tok-q"], query="api_key"),
)
fenced = Plugin(
    "fenced_sample", description="A plugin only 10.0.0.0/8 may call.", auth=NO_AUTH, allow_ips=["10.0.0.0/8"]
)

for extra in (bearer, query, fenced):

    @extra.tool
    def ping() -> Count:
        """Answer 1."""
        return Count(count=1)
