"""The simulator's own admin API under ``/sim/`` (plain JSON, no token): faults, request log, bots, reset.

- ``GET /sim/health``
- ``GET /sim/faults`` -> ``{"faults": [{id, kind, ..., seen, fired}]}``
- ``POST /sim/faults`` with one fault spec or ``{"faults": [spec, ...]}`` -> 201 ``{"faults": [...]}``
- ``DELETE /sim/faults`` (all) and ``DELETE /sim/faults/{fault_id}``
- ``GET /sim/requests?endpoint=&path=`` -> ``{"requests": [...]}``; ``DELETE /sim/requests``
- ``GET /sim/bots``; ``POST /sim/bots`` with a bot config (added or replaced)
- ``POST /sim/reset``: back to the scenario's initial state
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cozegate.coze.simulator.config import BotConfig
from cozegate.coze.simulator.context import Simulator
from cozegate.coze.simulator.faults import FAULT_SPEC, FaultSpec


def _invalid(exc: ValidationError | ValueError) -> JSONResponse:
    details = exc.errors(include_url=False) if isinstance(exc, ValidationError) else str(exc)
    return JSONResponse({"error": "invalid request", "details": details}, status_code=422)


async def _json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        raise ValueError("a JSON body is required")
    return await request.json()


def admin_routes(sim: Simulator) -> list[Route]:
    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def list_faults(_: Request) -> JSONResponse:
        return JSONResponse({"faults": [f.to_json() for f in sim.faults.list()]})

    async def add_faults(request: Request) -> JSONResponse:
        try:
            body = await _json(request)
            raw = body["faults"] if isinstance(body, dict) and "faults" in body else [body]
            if not isinstance(raw, list):
                raise ValueError("faults must be a list")
            specs: list[FaultSpec] = [FAULT_SPEC.validate_python(item) for item in raw]
        except (ValidationError, ValueError) as exc:
            return _invalid(exc)
        added = [sim.faults.add(spec) for spec in specs]
        return JSONResponse({"faults": [f.to_json() for f in added]}, status_code=201)

    async def clear_faults(_: Request) -> JSONResponse:
        removed = len(sim.faults.list())
        sim.faults.clear()
        return JSONResponse({"removed": removed})

    async def remove_fault(request: Request) -> JSONResponse:
        if sim.faults.remove(request.path_params["fault_id"]):
            return JSONResponse({"removed": 1})
        return JSONResponse({"error": "no such fault"}, status_code=404)

    async def list_requests(request: Request) -> JSONResponse:
        records = sim.log.list(path=request.query_params.get("path"), endpoint=request.query_params.get("endpoint"))
        return JSONResponse({"requests": [r.to_json() for r in records]})

    async def clear_requests(_: Request) -> JSONResponse:
        sim.log.clear()
        return JSONResponse({"cleared": True})

    async def list_bots(_: Request) -> JSONResponse:
        bots = [
            {
                "id": b.id,
                "kind": b.config.kind,
                "name": b.name,
                "published": b.published,
                "connectors": sorted(b.connectors),
                "version": b.version,
                "dataset_ids": b.dataset_ids,
            }
            for b in sim.state.bots.values()
        ]
        return JSONResponse({"bots": bots})

    async def add_bot(request: Request) -> JSONResponse:
        try:
            config = BotConfig.model_validate(await _json(request))
        except (ValidationError, ValueError) as exc:
            return _invalid(exc)
        sim.state.add_bot(config)
        return JSONResponse({"bot_id": config.id}, status_code=201)

    async def reset(_: Request) -> JSONResponse:
        sim.reset()
        return JSONResponse({"reset": True})

    return [
        Route("/sim/health", health, methods=["GET"]),
        Route("/sim/faults", list_faults, methods=["GET"]),
        Route("/sim/faults", add_faults, methods=["POST"]),
        Route("/sim/faults", clear_faults, methods=["DELETE"]),
        Route("/sim/faults/{fault_id}", remove_fault, methods=["DELETE"]),
        Route("/sim/requests", list_requests, methods=["GET"]),
        Route("/sim/requests", clear_requests, methods=["DELETE"]),
        Route("/sim/bots", list_bots, methods=["GET"]),
        Route("/sim/bots", add_bot, methods=["POST"]),
        Route("/sim/reset", reset, methods=["POST"]),
    ]
