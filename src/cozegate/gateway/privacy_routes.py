"""``/admin/privacy/*``: export and erase what is held about a user, apply retention now (admin, audited)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cozegate.compliance.subject_rights import PrivacyNotConfiguredError, SubjectRights
from cozegate.gateway.admin_auth import AdminHandler, Authenticator, admin_endpoint
from cozegate.http.errors import error_response
from cozegate.http.request_context import request_id_of


class SubjectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, max_length=64)
    user_id: str = Field(min_length=1, max_length=255)


def privacy_routes(
    rights: SubjectRights,
    auth: Authenticator,
    *,
    purge: Callable[[], Awaitable[dict[str, dict[str, int]]]],
) -> list[Route]:
    async def export(request: Request, actor: str) -> Response:
        subject = SubjectRequest.model_validate_json(await request.body())
        held = await rights.export(subject.tenant, subject.user_id, actor=actor, request_id=request_id_of(request))
        return JSONResponse(held)

    async def erase(request: Request, actor: str) -> Response:
        subject = SubjectRequest.model_validate_json(await request.body())
        report = await rights.erase(subject.tenant, subject.user_id, actor=actor, request_id=request_id_of(request))
        return JSONResponse({"status": "erased", **report.__dict__})

    async def purge_now(request: Request, actor: str) -> Response:
        removed = await purge()
        await rights.audit.record(
            actor=actor, action="privacy.purge", request_id=request_id_of(request), details=removed
        )
        return JSONResponse({"status": "purged", "removed": removed})

    def configured(handler: AdminHandler) -> AdminHandler:
        async def guarded(request: Request, actor: str) -> Response:
            try:
                return await handler(request, actor)
            except PrivacyNotConfiguredError as exc:
                return error_response(503, "privacy_not_configured", str(exc), request_id_of(request))

        return guarded

    return [
        Route("/admin/privacy/export", admin_endpoint(configured(export), auth), methods=["POST"]),
        Route("/admin/privacy/erase", admin_endpoint(configured(erase), auth), methods=["POST"]),
        Route("/admin/privacy/purge", admin_endpoint(purge_now, auth), methods=["POST"]),
    ]
