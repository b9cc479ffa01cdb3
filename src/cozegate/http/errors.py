"""The project's error body: ``{"error": {"code", "message", "request_id"[, "details"]}}``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse


def error_payload(code: str, message: str, request_id: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_bytes(code: str, message: str, request_id: str, details: Any = None) -> bytes:
    return json.dumps(error_payload(code, message, request_id, details), ensure_ascii=False).encode()


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_payload(code, message, request_id, details), status_code=status, headers=headers)


def field_problem(error: Mapping[str, Any]) -> dict[str, str]:
    """One entry of an ``invalid_arguments`` error's details, from one pydantic validation error."""
    return {"field": ".".join(str(part) for part in error["loc"]), "problem": str(error["msg"])}
