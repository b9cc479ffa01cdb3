"""A stand-in OpenTelemetry collector for benchmarks: accepts OTLP/HTTP trace exports on
``127.0.0.1:<port>/v1/traces``, counts the bytes and answers 200 (nothing is decoded or kept).

    python bench/common/otlp_sink.py 4318
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

received = {"exports": 0, "bytes": 0}


async def traces(request: Request) -> Response:
    received["exports"] += 1
    received["bytes"] += len(await request.body())
    return Response(b"", media_type="application/x-protobuf")


async def stats(_: Request) -> Response:
    return Response(f"{received['exports']} {received['bytes']}\n")


app = Starlette(routes=[Route("/v1/traces", traces, methods=["POST"]), Route("/stats", stats)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
