"""``/console/dead-letters``: list (tenant filter, paging), detail, replay and discard (one or checked rows).

Every read and action goes through ``DeadLetters``, so each is audited with the console's actor and the
request id. An id that is no longer a dead letter (another operator was faster) is reported in the
outcome message, not raised.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cozegate.console.guard import ACTOR, BadInputError, Guard, Handler, read_form
from cozegate.console.rendering import Pages
from cozegate.console.session import Flash, Session
from cozegate.http.request_context import request_id_of
from cozegate.inbox import InboxStore, WorkerPool
from cozegate.inbox.dead_letters import DeadLetterNotFoundError, DeadLetters
from cozegate.tenants.live import LiveTenants

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_BULK = 500
LIST_PATH = "/console/dead-letters"
VERBS = {"replay": "replayed", "discard": "discarded"}


_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")  # ASCII digits only (str.isdigit takes "²"); fits a BIGINT


def _positive_int(raw: str | None, what: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise BadInputError(f"{what} must be a whole number")
    return int(raw)


def _ids(raw: list[str]) -> list[int]:
    if not raw:
        raise BadInputError("check at least one dead letter first")
    if len(raw) > MAX_BULK:
        raise BadInputError(f"at most {MAX_BULK} dead letters at once")
    if not all(_WHOLE_NUMBER.fullmatch(value) for value in raw):
        raise BadInputError("a dead-letter id is a positive integer")
    return list(dict.fromkeys(int(value) for value in raw))


def _return_to(raw: str | None) -> str:
    """Back to the list the form was on (its filter and page), never anywhere else."""
    if raw and raw.startswith(LIST_PATH) and not raw.startswith(LIST_PATH + "/"):
        return raw
    return LIST_PATH


def outcome_message(action: str, done: list[int], gone: list[int]) -> Flash:
    """``replayed 3 (#4, #5, #6)``, and which ids were no longer dead letters."""
    parts = []
    if done:
        parts.append(f"{VERBS[action]} {len(done)} ({', '.join(f'#{i}' for i in done)})")
    if gone:
        parts.append(f"no longer dead letters, left as they are: {', '.join(f'#{i}' for i in gone)}")
    return Flash("ok" if done else "error", "; ".join(parts) or "nothing to do")


def dead_letter_routes(
    guard: Guard,
    pages: Pages,
    dead_letters: DeadLetters,
    store: InboxStore,
    workers: WorkerPool,
    tenants: LiveTenants,
) -> list[Route]:
    async def act(action: str, ids: list[int], request: Request) -> tuple[list[int], list[int]]:
        operation = dead_letters.replay if action == "replay" else dead_letters.discard
        done: list[int] = []
        gone: list[int] = []
        for event_id in ids:
            try:
                await operation(event_id, actor=ACTOR, request_id=request_id_of(request))
            except DeadLetterNotFoundError:
                gone.append(event_id)
            else:
                done.append(event_id)
        if action == "replay" and done:
            workers.wake()
        return done, gone

    async def list_page(request: Request, session: Session) -> Response:
        q = request.query_params
        tenant = q.get("tenant") or None
        if tenant is not None and tenant not in tenants.current.names():
            raise BadInputError(f"no tenant named {tenant[:64]!r} is configured")
        after_id = _positive_int(q.get("after_id"), "after_id", 0)
        limit = _positive_int(q.get("limit"), "limit", PAGE_SIZE)
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise BadInputError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
        items = await dead_letters.list(
            actor=ACTOR, tenant=tenant, after_id=after_id, limit=limit, request_id=request_id_of(request)
        )
        base = {"tenant": tenant} if tenant else {}
        next_url = None
        if len(items) == limit:
            next_url = f"{LIST_PATH}?{urlencode({**base, 'after_id': items[-1].id, 'limit': limit})}"
        first_url = f"{LIST_PATH}?{urlencode(base)}" if after_id else None
        return guard.render(
            request,
            session,
            "dead_letters.html",
            active="dead-letters",
            items=items,
            tenant=tenant or "",
            tenants=tenants.current.names(),
            next_url=next_url,
            first_url=first_url,
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        )

    async def detail_page(request: Request, session: Session) -> Response:
        event_id = _positive_int(request.path_params["event_id"], "a dead-letter id", 0)
        try:
            event = await dead_letters.show(event_id, actor=ACTOR, request_id=request_id_of(request))
        except DeadLetterNotFoundError as exc:
            current = await store.get(event_id)
            message = (
                str(exc) if current is None else f"event #{event_id} is not a dead letter: status {current.status}"
            )
            return guard.render(
                request,
                session,
                "dead_letter_gone.html",
                active="dead-letters",
                status_code=404,
                event_id=event_id,
                status=current.status if current is not None else None,
                message=message,
            )
        return guard.render(
            request,
            session,
            "dead_letter.html",
            active="dead-letters",
            event=event,
        )

    def single(action: str) -> Handler:
        async def handler(request: Request, session: Session) -> Response:
            event_id = _positive_int(request.path_params["event_id"], "a dead-letter id", 0)
            done, gone = await act(action, [event_id], request)
            form = await read_form(request)
            return guard.redirect_with(
                request, _return_to(form.get("return_to", [""])[0]), outcome_message(action, done, gone)
            )

        return handler

    async def bulk(request: Request, session: Session) -> Response:
        form = await read_form(request)
        action = form.get("action", [""])[0]
        if action not in VERBS:
            raise BadInputError("choose replay or discard")
        done, gone = await act(action, _ids(form.get("id", [])), request)
        return guard.redirect_with(
            request, _return_to(form.get("return_to", [""])[0]), outcome_message(action, done, gone)
        )

    return [
        Route(LIST_PATH, guard.page(list_page), methods=["GET"]),
        Route(LIST_PATH + "/bulk", guard.action(bulk), methods=["POST"]),
        Route(LIST_PATH + "/{event_id}", guard.page(detail_page), methods=["GET"]),
        Route(LIST_PATH + "/{event_id}/replay", guard.action(single("replay")), methods=["POST"]),
        Route(LIST_PATH + "/{event_id}/discard", guard.action(single("discard")), methods=["POST"]),
    ]
