"""The knowledge index over HTTP.

- ``GET /v1/knowledge/search?q=...&top_k=5&mode=auto&source=...&document=...&score_threshold=0`` (user or
  admin; ``tenant=`` for global admins): the tenant's best passages (503 ``knowledge_unavailable`` if the
  index cannot be reached).
- ``GET /admin/knowledge/{tenant}``: each source's last sync, its cursor and whether a sync is running.
- ``POST /admin/knowledge/{tenant}/sync`` ``{"source"?}``: sync now (audited ``knowledge.sync``). The answer is
  NDJSON, one line per document (``{"event": "document", ...}``) and a summary (or error) line per source as it
  ends, so a client can show progress; the sync goes on if the client disconnects. For one source: 409
  ``sync_running`` if a pass of it is running, 502 ``sync_failed`` if it failed before its first document.
- ``POST /retrieval``: the Dify External Knowledge API (bearer: one of the tenant's ``knowledge.api_keys``;
  ``knowledge_id``: a source name, or ``*`` for all of the tenant's sources).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cozegate.compliance import AuditLog
from cozegate.gateway.admin_auth import Authenticator, admin_endpoint, tenant_allowed, user_endpoint
from cozegate.gateway.jwt_auth import Principal
from cozegate.http.errors import error_response, field_problem
from cozegate.http.request_context import request_id_of
from cozegate.knowledge.passages import Passage
from cozegate.knowledge.service import KnowledgeNotConfiguredError, KnowledgeService, KnowledgeUnavailableError
from cozegate.knowledge.sync import SourceBusyError
from cozegate.knowledge.vector_index import SearchFilter
from cozegate.tenants.live import LiveTenants
from cozegate.tenants.model import SOURCE_NAME_PATTERN, TENANT_NAME_PATTERN

ALL_SOURCES = "*"
log = logging.getLogger(__name__)


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=2000)
    top_k: int = Field(5, ge=1, le=50)
    mode: Literal["auto", "hybrid", "dense", "keyword"] = "auto"
    score_threshold: float = Field(0.0, ge=0, le=1)
    source: list[str] = Field(default_factory=list, max_length=20)
    document: list[str] = Field(default_factory=list, max_length=20)
    tenant: str | None = Field(None, pattern=TENANT_NAME_PATTERN)


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(None, pattern=SOURCE_NAME_PATTERN)


class RetrievalSetting(BaseModel):
    top_k: int = Field(ge=1, le=100)
    score_threshold: float = Field(0.0, ge=0, le=1)


class MetadataCondition(BaseModel):
    name: list[str] = Field(min_length=1)
    comparison_operator: str
    value: str | float | list[str] | None = None


class MetadataConditions(BaseModel):
    logical_operator: Literal["and", "or"] = "and"
    conditions: list[MetadataCondition] = Field(default_factory=list)


class RetrievalRequest(BaseModel):
    knowledge_id: str = Field(min_length=1)
    query: str = Field(min_length=1, max_length=4000)
    retrieval_setting: RetrievalSetting
    metadata_condition: MetadataConditions | None = None


def _invalid(exc: ValidationError, request: Request) -> Response:
    details = [field_problem(e) for e in exc.errors(include_url=False, include_input=False)]
    return error_response(400, "invalid_arguments", "the request is not valid", request_id_of(request), details=details)


def _metadata(passage: Passage) -> dict[str, Any]:
    return {
        "source": passage.source,
        "document": passage.document,
        "section": passage.section,
        "position": passage.position,
        "chunk_id": passage.chunk_id,
    }


def _matches(condition: MetadataCondition, metadata: dict[str, Any]) -> bool:
    """One Dify metadata condition on a passage's metadata (string fields; unknown operators never match)."""
    operator, wanted = condition.comparison_operator, condition.value
    for name in condition.name:
        value = str(metadata.get(name, "") if metadata.get(name) is not None else "")
        text = str(wanted) if wanted is not None and not isinstance(wanted, list) else ""
        listed = [str(v) for v in wanted] if isinstance(wanted, list) else [text]
        result = {
            "contains": text in value,
            "not contains": text not in value,
            "start with": value.startswith(text),
            "end with": value.endswith(text),
            "is": value == text,
            "=": value == text,
            "is not": value != text,
            "≠": value != text,
            "in": value in listed,
            "not in": value not in listed,
            "empty": value == "",
            "not empty": value != "",
        }.get(operator, False)
        if result:
            return True
    return False


def _filtered(passages: list[Passage], conditions: MetadataConditions | None) -> list[Passage]:
    if conditions is None or not conditions.conditions:
        return passages
    combine = all if conditions.logical_operator == "and" else any
    return [p for p in passages if combine(_matches(c, _metadata(p)) for c in conditions.conditions)]


def _index_filter(sources: list[str], conditions: MetadataConditions | None) -> SearchFilter:
    """Conditions the index can apply itself (``document``/``source`` ``is``/``in``, joined by ``and``), so the
    top k come from the matching documents; every condition is also checked on the results."""
    documents: list[str] = []
    if conditions is not None and conditions.logical_operator == "and":
        for condition in conditions.conditions:
            if condition.name not in (["document"], ["source"]) or condition.comparison_operator not in ("is", "in"):
                continue
            value = condition.value
            values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            if condition.name == ["document"]:
                documents = values if not documents else [d for d in documents if d in values] or ["\0none"]
            else:
                sources = values if not sources else [s for s in sources if s in values] or ["\0none"]
    return SearchFilter(sources, documents)


def _dify_error(status: int, code: int, message: str) -> Response:
    return JSONResponse({"error_code": code, "error_msg": message}, status_code=status)


def knowledge_routes(
    service: KnowledgeService,
    audit: AuditLog,
    auth: Authenticator,
    tenants: LiveTenants,
) -> list[Route]:
    async def search(request: Request, principal: Principal) -> Response:
        params = request.query_params
        raw: dict[str, Any] = {key: params.get(key) for key in params if key not in ("source", "document")}
        raw |= {"source": params.getlist("source"), "document": params.getlist("document")}
        try:
            query = SearchQuery.model_validate(raw)
        except ValidationError as exc:
            return _invalid(exc, request)
        tenant = query.tenant or principal.tenant
        if tenant is None:
            raise ValueError("say which tenant to search (`tenant=`)")
        tenant_allowed(principal, tenant)
        for source in query.source:
            if not service.has_source(tenant, source):
                raise KnowledgeNotConfiguredError(f"tenant {tenant!r} has no knowledge source {source!r}")
        try:
            passages = await service.search(
                tenant,
                query.q,
                top_k=query.top_k,
                mode=query.mode,
                where=SearchFilter(query.source, query.document),
                score_threshold=query.score_threshold,
            )
        except KnowledgeUnavailableError as exc:
            return error_response(503, "knowledge_unavailable", str(exc), request_id_of(request))
        return JSONResponse({"tenant": tenant, "mode": query.mode, "results": [p.as_dict() for p in passages]})

    async def status(request: Request, actor: str) -> Response:
        tenant = request.path_params["tenant"]
        if tenant not in tenants.current.names():
            raise LookupError(f"no tenant named {tenant!r}")
        config = tenants.current.knowledge(tenant)
        statuses = {s.source: s for s in await service.statuses(tenant)}
        sources = []
        for source in config.sources if config is not None else []:
            known = statuses.get(source.name)
            sources.append(
                {
                    "name": source.name,
                    "kind": source.kind,
                    "syncing": known.syncing if known else False,
                    "documents": known.documents if known else 0,
                    "synced_at": known.synced_at if known else None,
                    "last_summary": known.last_summary if known else None,
                    "interrupted_at": known.cursor if known and not known.syncing else None,
                }
            )
        return JSONResponse({"tenant": tenant, "sources": sources})

    async def sync(request: Request, actor: str) -> Response:
        tenant = request.path_params["tenant"]
        try:
            body = SyncRequest.model_validate_json(await request.body() or b"{}")
        except ValidationError as exc:
            return _invalid(exc, request)
        if tenant not in tenants.current.names():
            raise LookupError(f"no tenant named {tenant!r}")
        if body.source is not None and not service.has_source(tenant, body.source):
            raise KnowledgeNotConfiguredError(f"tenant {tenant!r} has no knowledge source {body.source!r}")
        await audit.record(
            actor=actor,
            action="knowledge.sync",
            target=f"{tenant}/{body.source or ALL_SOURCES}",
            request_id=request_id_of(request),
        )
        names = [body.source] if body.source is not None else [config.name for config in service.sources(tenant)]
        lines: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        class Progress:
            def started(self, source: str, total: int, resumed_after: int) -> None:
                lines.put_nowait({"event": "started", "source": source, "total": total, "resumed_after": resumed_after})

            def advanced(self, source: str, document: str, outcome: str) -> None:
                lines.put_nowait({"event": "document", "source": source, "document": document, "outcome": outcome})

        async def run() -> None:
            """Each source in turn, its summary (or error) as soon as it ends; goes on if the client leaves."""
            try:
                for name in names:
                    try:
                        summary = await service.sync_one(tenant, name, Progress())
                        lines.put_nowait({"event": "summary", **summary.as_dict()})
                    except SourceBusyError as exc:
                        lines.put_nowait(
                            {"event": "error", "source": name, "code": "sync_running", "message": str(exc)}
                        )
                    except Exception as exc:
                        log.exception("knowledge sync failed", extra={"tenant": tenant, "source": name})
                        message = f"{type(exc).__name__}: {exc}"
                        lines.put_nowait({"event": "error", "source": name, "code": "sync_failed", "message": message})
            finally:
                lines.put_nowait(None)

        service.run_in_background(run(), f"knowledge-sync-{tenant}")
        first = await lines.get()
        if first is not None and first["event"] == "error" and len(names) == 1:  # nothing ran: a plain error
            status = 409 if first["code"] == "sync_running" else 502
            return error_response(status, str(first["code"]), str(first["message"]), request_id_of(request))

        async def stream() -> AsyncIterator[bytes]:
            item = first
            while item is not None:
                yield (json.dumps(item, ensure_ascii=False) + "\n").encode()
                item = await lines.get()

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    async def retrieval(request: Request) -> Response:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return _dify_error(403, 1001, "Invalid Authorization header format. Expected 'Bearer <api-key>' format.")
        tenant = tenants.current.tenant_of_knowledge_key(presented.strip(), datetime.now(UTC))
        if tenant is None:
            return _dify_error(403, 1002, "Authorization failed")
        try:
            body = RetrievalRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            return _dify_error(400, 1003, f"invalid request: {field_problem(first)}")
        sources = [] if body.knowledge_id == ALL_SOURCES else [body.knowledge_id]
        if sources and not service.has_source(tenant, body.knowledge_id):
            return _dify_error(404, 2001, "The knowledge does not exist")
        setting = body.retrieval_setting
        conditions = body.metadata_condition
        where = _index_filter(sources, conditions)
        wanted = setting.top_k * (4 if conditions is not None and conditions.conditions else 1)
        try:
            passages = await service.search(
                tenant, body.query, top_k=min(wanted, 200), where=where, score_threshold=setting.score_threshold
            )
        except KnowledgeNotConfiguredError:
            return _dify_error(404, 2001, "The knowledge does not exist")
        except KnowledgeUnavailableError:
            return _dify_error(503, 5001, "The knowledge index is unavailable; try again later")
        records = [
            {"content": p.text, "score": round(p.score, 6), "title": p.title, "metadata": _metadata(p)}
            for p in _filtered(passages, conditions)[: setting.top_k]
        ]
        return JSONResponse({"records": records})

    return [
        Route("/v1/knowledge/search", user_endpoint(search, auth), methods=["GET"]),
        Route("/admin/knowledge/{tenant}", admin_endpoint(status, auth), methods=["GET"]),
        Route("/admin/knowledge/{tenant}/sync", admin_endpoint(sync, auth), methods=["POST"]),
        Route("/retrieval", retrieval, methods=["POST"]),
    ]
