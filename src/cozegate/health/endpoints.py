"""``/healthz`` (the process answers) and ``/readyz`` (its dependencies answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis.asyncio as aioredis
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cozegate.storage import Database

CHECK_TIMEOUT_SECONDS = 2.0


def health_routes(db: Database, redis: aioredis.Redis | None, accepting: Callable[[], bool]) -> list[Route]:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await db.read(lambda conn: conn.execute(text("SELECT 1")).scalar())
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"failed: {exc.__class__.__name__}"
        if redis is not None:
            try:
                async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                    await redis.ping()
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"failed: {exc.__class__.__name__}"
        checks["accepting"] = "ok" if accepting() else "failed: shutting down"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
        )

    return [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
