"""Who may see the console: endpoints wrapped so that they run only with a valid admin session.

- pages (GET): without a session, ``303`` to ``/console/login?next=<path>``;
- JSON endpoints: ``401`` with the project's error body;
- actions (POST): without a session, ``303`` to the login page; without the session's CSRF token
  (form field ``csrf``), ``403`` and nothing runs.

The handler receives the request and the verified ``Session``. An unexpected failure is logged (with
the request id) and answered with an error page that names the request id, never the exception.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from cozegate.console.rendering import SECURITY_HEADERS, Pages
from cozegate.console.revocations import RevokedSessions
from cozegate.console.session import FLASH_COOKIE, SESSION_COOKIE, ConsoleSessions, Flash, Session
from cozegate.http.errors import error_response
from cozegate.http.request_context import request_id_of

log = logging.getLogger(__name__)

ACTOR = "console:admin-token"
Handler = Callable[[Request, Session], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


MAX_FORM_BYTES = 64 * 1024
Form = dict[str, list[str]]


class BadInputError(ValueError):
    """A request the console cannot act on (shown as a 400 page with this message)."""


async def read_form(request: Request) -> Form:
    """The fields of a URL-encoded form (what the console's forms send), read once per request."""
    cached = getattr(request.state, "console_form", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    form: Form = {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise BadInputError("the form is too large")
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=1000)
    request.state.console_form = form
    return form


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/console/login?next={quote(target, safe='')}", status_code=303, headers=SECURITY_HEADERS)


def safe_next(target: str | None) -> str:
    """Where to go after login: a console path only (never another site)."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"


class Guard:
    def __init__(self, sessions: ConsoleSessions, revoked: RevokedSessions, pages: Pages) -> None:
        self.sessions = sessions
        self.revoked = revoked
        self._pages = pages

    async def session_of(self, request: Request) -> Session | None:
        """The request's signed, unexpired session, unless it was ended by logging out."""
        session = self.sessions.verify(request.cookies.get(SESSION_COOKIE))
        if session is None or await self.revoked.is_revoked(session.nonce):
            return None
        return session

    def flash_of(self, request: Request) -> Flash | None:
        return self.sessions.read_flash(request.cookies.get(FLASH_COOKIE))

    def render(
        self, request: Request, session: Session, name: str, *, active: str, status_code: int = 200, **context: Any
    ) -> Response:
        """A signed-in page: the template with the layout's context (nav, CSRF token, flash, request id)."""
        return self._pages.render(
            name,
            request_id=request_id_of(request),
            session=session,
            active=active,
            flash=self.flash_of(request),
            status_code=status_code,
            **context,
        )

    def error_page(self, request: Request, session: Session | None, status: int, message: str) -> Response:
        return self._pages.render(
            "error.html",
            request_id=request_id_of(request),
            session=session,
            status_code=status,
            status=status,
            message=message,
        )

    async def _run(self, request: Request, session: Session, handler: Handler, *, json: bool = False) -> Response:
        rid = request_id_of(request)
        try:
            response = await handler(request, session)
        except BadInputError as exc:
            if json:
                return error_response(400, "bad_request", str(exc), rid)
            return self.error_page(request, session, 400, str(exc))
        except Exception:
            log.exception("console request failed", extra={"path": request.url.path})
            message = f"The request failed; the server's logs name request {rid}."
            if json:
                return error_response(500, "internal_error", message, rid)
            return self.error_page(request, session, 500, message)
        shown = response.media_type == "text/html" and response.status_code < 300  # the page showed the flash
        if request.cookies.get(FLASH_COOKIE) and request.method == "GET" and shown:
            response.delete_cookie(FLASH_COOKIE, path="/console", httponly=True, samesite="strict")
        return response

    def page(self, handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            session = await self.session_of(request)
            if session is None:
                return login_redirect(request)
            return await self._run(request, session, handler)

        return endpoint

    def api(self, handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            session = await self.session_of(request)
            if session is None:
                rid = request_id_of(request)
                response = error_response(401, "unauthorized", "sign in to the console first", rid)
                response.headers.update(SECURITY_HEADERS)
                return response
            return await self._run(request, session, handler, json=True)

        return endpoint

    def action(self, handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            session = await self.session_of(request)
            if session is None:
                return RedirectResponse("/console/login", status_code=303, headers=SECURITY_HEADERS)
            try:
                presented = (await read_form(request)).get("csrf", [""])[0]
            except ValueError as exc:  # too large, too many fields
                return self.error_page(request, session, 400, str(exc))
            if not self.sessions.csrf_matches(session, presented):
                message = "The form was missing its security token or it was stale: reload the page and try again."
                return self.error_page(request, session, 403, message)
            return await self._run(request, session, handler)

        return endpoint

    def redirect_with(self, request: Request, location: str, flash: Flash) -> RedirectResponse:
        """Post/redirect/get: the outcome travels to the next page in a signed, short-lived cookie."""
        response = RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(
            FLASH_COOKIE,
            self.sessions.flash_cookie(flash),
            max_age=60,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response
