"""The two servers the plugin benchmark compares: the same trivial function as a cozegate plugin tool and as
a bare Starlette route. Both run under uvicorn (uvloop, httptools) with the same options."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cozegate.plugins import Plugin, ServiceToken

TOKEN = "bench-token"


async def add_async(a: int, b: int) -> int:
    return a + b


def add_sync(a: int, b: int) -> int:
    return a + b


# More concurrent calls than wrk's connections: the benchmark measures calls, not the 429 of a full tool.
plugin = Plugin("bench", description="Benchmark tools.", auth=ServiceToken(tokens=[TOKEN]), max_concurrency=256)
First = Annotated[int, Field(description="first")]
Second = Annotated[int, Field(description="second")]


@plugin.tool(name="add")
async def add_tool(
    a: Annotated[int, Field(description="first")], b: Annotated[int, Field(description="second")]
) -> int:
    """Add two integers."""
    return await add_async(a, b)


@plugin.tool(name="add_sync")
def add_sync_tool(a: First, b: Second) -> int:
    """Add two integers in the thread pool."""
    return add_sync(a, b)


async def _add_route(request: Request) -> JSONResponse:
    data = await request.json()
    return JSONResponse({"result": await add_async(data["a"], data["b"])})


async def _add_sync_via_pool(request: Request) -> JSONResponse:
    data = await request.json()
    return JSONResponse({"result": await run_in_threadpool(add_sync, data["a"], data["b"])})


baseline = Starlette(
    routes=[
        Route("/plugins/bench/add", _add_route, methods=["POST"]),
        Route("/plugins/bench/add_sync", _add_sync_via_pool, methods=["POST"]),
    ]
)
