"""``/console``: the operator web console (admin token login), assembled from its pages.

- ``GET|POST /console/login`` · ``POST /console/logout``
- ``GET /console`` (overview) and ``GET /console/api/stats`` (its live series, JSON)
- ``/console/dead-letters`` (see ``dead_letter_routes``)
- ``GET /console/bots`` · ``GET /console/rollouts`` · ``GET /console/tenants``
- ``/console/static/*``: the stylesheet, the script and the vendored chart library (no CDN)
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from cozegate.compliance import AuditLog
from cozegate.console.dead_letter_routes import dead_letter_routes
from cozegate.console.guard import Guard, read_form, safe_next
from cozegate.console.queries import ConsoleQueries
from cozegate.console.rendering import SECURITY_HEADERS, Pages
from cozegate.console.revocations import RevokedSessions
from cozegate.console.session import FLASH_COOKIE, SESSION_COOKIE, SESSION_SECONDS, ConsoleSessions, Session
from cozegate.console.views import ConfigSource, bot_views, config_status, tenant_views
from cozegate.health.incidents import IncidentStore
from cozegate.http.request_context import request_id_of
from cozegate.inbox import Inbox, WorkerPool
from cozegate.inbox.dead_letters import DeadLetters
from cozegate.lifecycle import LifecycleManager
from cozegate.rate_limits import TokenBuckets
from cozegate.rollout import Exposures
from cozegate.rollout.splits import rollout_splits
from cozegate.settings import Settings
from cozegate.storage import Database
from cozegate.tenants.live import LiveTenants

STATIC_PACKAGE = ("cozegate.console", "static")


@dataclass(frozen=True)
class ConsoleParts:
    """The parts of the running gateway the console reads (tenants through the live handle, so a
    reloaded configuration shows at once)."""

    settings: Settings
    db: Database
    inbox: Inbox
    workers: WorkerPool
    dead_letters: DeadLetters
    audit: AuditLog
    lifecycle: LifecycleManager
    tenants: LiveTenants
    incidents: IncidentStore
    exposures: Exposures
    config: ConfigSource | None
    login_attempts: TokenBuckets
    admin_token: SecretStr | None


LOGIN_RATE = 0.2  # sign-in attempts per second per client address (refill) ...
LOGIN_BURST = 10.0  # ... and how many it may make at once


def console_routes(parts: ConsoleParts) -> list[BaseRoute]:
    sessions = ConsoleSessions(parts.admin_token)
    incidents, exposures, config = parts.incidents, parts.exposures, parts.config
    login_attempts = parts.login_attempts
    pages = Pages()
    guard = Guard(sessions, RevokedSessions(parts.db), pages)
    queries = ConsoleQueries(parts.db)

    def login_form(request: Request, *, error: str | None = None, status_code: int = 200) -> Response:
        if not sessions.enabled:
            error = "The console is disabled: set COZEGATE_ADMIN_TOKEN to enable it."
        return pages.render(
            "login.html",
            request_id=request_id_of(request),
            status_code=status_code,
            error=error,
            next=safe_next(request.query_params.get("next")),
        )

    async def login_page(request: Request) -> Response:
        if await guard.session_of(request) is not None:
            return RedirectResponse(safe_next(request.query_params.get("next")), 303, headers=SECURITY_HEADERS)
        return login_form(request)

    async def login(request: Request) -> Response:
        client = request.client.host if request.client else "unknown"
        short, wait = await login_attempts.take([(f"console-login:{client}", LOGIN_RATE, LOGIN_BURST)])
        if short >= 0:
            response = login_form(
                request, error=f"Too many sign-in attempts; try again in {ceil(wait)} s.", status_code=429
            )
            response.headers["retry-after"] = str(ceil(wait))
            return response
        try:
            form = await read_form(request)
        except ValueError:
            form = {}
        presented = form.get("token", [""])[0]
        request_id = request_id_of(request)
        if not sessions.token_matches(presented):
            await parts.audit.record(
                actor="console", action="console.login_refused", target=client, request_id=request_id
            )
            return login_form(request, error="That is not the admin token.", status_code=401)
        await parts.audit.record(
            actor="console:admin-token", action="console.login", target=client, request_id=request_id
        )
        response = RedirectResponse(safe_next(form.get("next", [""])[0]), 303, headers=SECURITY_HEADERS)
        response.set_cookie(
            SESSION_COOKIE,
            sessions.issue(),
            max_age=SESSION_SECONDS,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(request: Request, session: Session) -> Response:
        await guard.revoked.revoke(session.nonce, session.expires_at)  # a copied cookie opens nothing now
        await parts.audit.record(
            actor="console:admin-token", action="console.logout", request_id=request_id_of(request)
        )
        response = RedirectResponse("/console/login", 303, headers=SECURITY_HEADERS)
        for name in (SESSION_COOKIE, FLASH_COOKIE):
            response.delete_cookie(name, path="/console", httponly=True, samesite="strict")
        return response

    async def live_status() -> dict[str, Any]:
        workers = parts.workers
        return {
            "depth": await parts.inbox.store.depth(),
            "worker": {
                "owner": workers.owner,
                "in_flight": workers.in_flight,
                "concurrency": parts.settings.workers,
            },
        }

    async def overview(request: Request, session: Session) -> Response:
        return guard.render(
            request,
            session,
            "overview.html",
            active="overview",
            backend=parts.db.dialect,
            **await live_status(),
        )

    async def stats(request: Request, session: Session) -> Response:
        series = (await queries.stats()).to_json()
        return JSONResponse({**series, **await live_status()}, headers=SECURITY_HEADERS)

    async def bots(request: Request, session: Session) -> Response:
        return guard.render(
            request,
            session,
            "bots.html",
            active="bots",
            bots=await bot_views(parts.lifecycle, incidents),
        )

    async def rollouts(request: Request, session: Session) -> Response:
        return guard.render(
            request,
            session,
            "rollouts.html",
            active="rollouts",
            rollouts=rollout_splits(parts.tenants.current.rollouts(), exposures),
        )

    async def tenants(request: Request, session: Session) -> Response:
        return guard.render(
            request,
            session,
            "tenants.html",
            active="tenants",
            tenants=tenant_views(parts.tenants.current),
            config=config_status(config),
        )

    return [
        Route("/console/login", login_page, methods=["GET"]),
        Route("/console/login", login, methods=["POST"]),
        Route("/console/logout", guard.action(logout), methods=["POST"]),
        Route("/console", guard.page(overview), methods=["GET"]),
        Route("/console/api/stats", guard.api(stats), methods=["GET"]),
        *dead_letter_routes(
            guard,
            pages,
            parts.dead_letters,
            parts.inbox.store,
            parts.workers,
            parts.tenants,
        ),
        Route("/console/bots", guard.page(bots), methods=["GET"]),
        Route("/console/rollouts", guard.page(rollouts), methods=["GET"]),
        Route("/console/tenants", guard.page(tenants), methods=["GET"]),
        Mount("/console/static", app=StaticFiles(packages=[STATIC_PACKAGE]), name="console-static"),
    ]
