"""The plugin call hot path as a bare ASGI app: ``POST /plugins/{plugin}/{tool}``.

Order of checks: tool exists (404) → IP allow-list (403) → token (401) → media type (415) → body size
(413) → JSON and argument validation (400, naming each bad field) → concurrency (429) → the call under
its deadline. A ``ToolError`` or a passed deadline is answered with 200 and the project's error body,
because Coze shows a plugin's response to the bot only when the status is 200; an unexpected exception
is a 500 without details (logged with the request id). ``GET /plugins/{plugin}/openapi.json``,
``openapi.yaml`` and ``manifest.json`` describe the plugin for import into Coze.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

import pydantic
import yaml

from cozegate.http.asgi import (
    ClientGone,
    Header,
    Receive,
    Refusal,
    Send,
    is_json_media_type,
    read_body,
    send_answer,
)
from cozegate.http.errors import error_bytes, field_problem
from cozegate.http.headers import RawHeaders
from cozegate.http.request_ids import request_id_from
from cozegate.observability.logging import request_id_var
from cozegate.plugins.auth import CredentialsInvalidError, CredentialsMissingError, TokenAuth, TokenSourceError
from cozegate.plugins.context import ToolContext
from cozegate.plugins.execution import DeadlineExceededError, ThreadsStuckError, ToolBusyError, run_async_tool
from cozegate.plugins.openapi import plugin_manifest, plugin_openapi
from cozegate.plugins.plugin import Plugin, RegisteredTool, ToolError

log = logging.getLogger(__name__)

PLUGINS_PREFIX = "/plugins/"
COOPERATIVE_GRACE_SECONDS = 0.25  # a sync tool taking a ToolContext may stop itself this long after its deadline
_DESCRIPTIONS = {"openapi.json", "openapi.yaml", "manifest.json"}

Scope = dict[str, Any]


class _Answer(Refusal):
    """A refusal that also names its outcome (the metric label)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        outcome: str,
        details: Any = None,
        headers: list[Header] | None = None,
    ) -> None:
        super().__init__(status, code, message, details=details, headers=headers)
        self.outcome = outcome


class PluginServer:
    def __init__(self, plugins: Iterable[Plugin]) -> None:
        self.plugins: dict[str, Plugin] = {}
        for plugin in plugins:
            if plugin.name in self.plugins:
                raise ValueError(f"two plugins are named {plugin.name!r}")
            self.plugins[plugin.name] = plugin

    def check_ready(self) -> None:
        for plugin in self.plugins.values():
            plugin.check_ready()

    def close(self) -> None:
        for plugin in self.plugins.values():
            plugin.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = RawHeaders(scope["headers"])
        request_id = request_id_from(headers.get("x-request-id") or headers.get("x-tt-logid"))
        plugin_name, _, tool_name = scope["path"][len(PLUGINS_PREFIX) :].partition("/")
        plugin = self.plugins.get(plugin_name)
        if plugin is not None and tool_name in _DESCRIPTIONS and scope["method"] in ("GET", "HEAD"):
            if not _client_allowed(plugin, scope):
                body = error_bytes("ip_not_allowed", "this address may not read the plugin", request_id)
                await send_answer(send, 403, body, request_id)
                return
            await self._describe(plugin, tool_name, scope, headers, request_id, send)
            return
        tool = plugin.tools.get(tool_name) if plugin is not None else None
        started = time.perf_counter()
        extra: list[tuple[bytes, bytes]] = []
        try:
            if plugin is None or tool is None:
                raise _Answer(404, "unknown_tool", f"no tool at {scope['path']}", outcome="")
            body = await self._call(plugin, tool, scope, receive, headers, request_id)
            status, outcome = 200, "ok"
        except Refusal as refusal:
            status, extra = refusal.status, refusal.headers
            outcome = refusal.outcome if isinstance(refusal, _Answer) else "bad_request"
            body = error_bytes(refusal.code, refusal.message, request_id, refusal.details)
        except ClientGone:
            return
        if tool is not None:
            tool.outcomes(outcome).inc()
            tool.seconds.observe(time.perf_counter() - started)
        await send_answer(send, status, body, request_id, extra)

    async def _call(
        self,
        plugin: Plugin,
        tool: RegisteredTool,
        scope: Scope,
        receive: Receive,
        headers: RawHeaders,
        request_id: str,
    ) -> bytes:
        if scope["method"] != "POST":
            raise _Answer(405, "method_not_allowed", "call a tool with POST", outcome="bad_request")
        _authorize(plugin, scope, headers)
        body = await _read_body(receive, headers, plugin.max_body_bytes)
        spec = tool.spec
        try:
            arguments = spec.arguments.model_validate_json(body or b"{}")
        except pydantic.ValidationError as exc:
            raise _invalid_arguments(exc) from None
        context = None
        if spec.context_parameter is not None:
            context = ToolContext(
                request_id=request_id,
                plugin=plugin.name,
                tool=spec.name,
                deadline=time.monotonic() + tool.deadline_seconds,
                bot_id=headers.get("x-aiplugin-bot-id"),
                conversation_id=headers.get("x-aiplugin-conversation-id"),
            )
        kwargs = spec.call_arguments(arguments, context)
        token = request_id_var.set(request_id)
        try:
            if spec.is_async:
                value = await run_async_tool(spec.function, kwargs, tool.deadline_seconds, tool.slots)
            else:
                grace = COOPERATIVE_GRACE_SECONDS if spec.context_parameter is not None else 0.0
                value = await plugin.threads.run(
                    spec.function, kwargs, context, tool.deadline_seconds, tool.slots, grace
                )
        except ThreadsStuckError:
            held = f"every thread of plugin {plugin.name} is held by a call that overran its deadline"
            raise _busy("plugin_busy", f"{held}; retry later") from None
        except ToolBusyError:
            raise _busy(
                "tool_busy", f"{spec.name} is already running {tool.slots.limit} calls; retry shortly"
            ) from None
        except DeadlineExceededError as exc:
            raise _Answer(
                200,
                "deadline_exceeded",
                f"{spec.name} did not finish within {exc.seconds:g} s and was stopped; try again later"
                " or ask for less at once",
                outcome="deadline_exceeded",
            ) from None
        except ToolError as exc:
            raise _Answer(200, exc.code, exc.message, outcome="tool_error") from None
        except Exception:
            # argument names only: values may be personal data (a masker in configure_logging covers the rest)
            log.exception("tool %s/%s failed", plugin.name, spec.name, extra={"argument_names": sorted(kwargs)})
            raise _failed(request_id, "failed") from None
        finally:
            request_id_var.reset(token)
        try:
            return spec.response_json(value)
        except pydantic.ValidationError as exc:
            problems = [
                f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['type']}" for e in exc.errors(include_input=False)
            ]
            log.error(  # where and what kind, never the value (it may be personal data)
                "tool %s/%s returned a value that does not match its return type: %s",
                plugin.name,
                spec.name,
                "; ".join(problems),
                extra={"request_id": request_id},
            )
            raise _failed(request_id, "invalid_output") from None

    async def _describe(
        self, plugin: Plugin, what: str, scope: Scope, headers: RawHeaders, request_id: str, send: Send
    ) -> None:
        # the Host the caller used; behind a proxy, the server's --proxy-headers settles the scheme
        server_url = f"{scope.get('scheme', 'http')}://{headers.get('host') or 'localhost'}"
        if what == "manifest.json":
            body = json.dumps(plugin_manifest(plugin), ensure_ascii=False, indent=2).encode()
            content_type = b"application/json"
        else:
            document = plugin_openapi(plugin, server_url)
            if what == "openapi.yaml":
                body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode()
                content_type = b"application/yaml"
            else:
                body = json.dumps(document, ensure_ascii=False, indent=2).encode()
                content_type = b"application/json"
        await send_answer(send, 200, body, request_id, content_type=content_type)


def _authorize(plugin: Plugin, scope: Scope, headers: RawHeaders) -> None:
    if not _client_allowed(plugin, scope):
        raise _Answer(403, "ip_not_allowed", "this address may not call the plugin", outcome="forbidden")
    if not isinstance(plugin.auth, TokenAuth):
        return
    challenge = [(b"www-authenticate", b'Bearer realm="cozegate"')] if plugin.auth.is_bearer else []
    try:
        plugin.auth.verify(headers, scope.get("query_string", b""))
    except CredentialsMissingError as exc:
        raise _Answer(
            401, "missing_credentials", f"send the plugin's token in {exc}", outcome="unauthorized", headers=challenge
        ) from None
    except CredentialsInvalidError as exc:
        raise _Answer(
            401, "invalid_credentials", f"the token in {exc} is not valid", outcome="unauthorized", headers=challenge
        ) from None
    except TokenSourceError as exc:
        log.error("plugin %s cannot check tokens: %s", plugin.name, exc)
        raise _Answer(
            503, "auth_not_configured", "the plugin's tokens are not configured", outcome="unauthorized"
        ) from None


def _busy(code: str, message: str) -> _Answer:
    return _Answer(429, code, message, outcome="busy", headers=[(b"retry-after", b"1")])


def _client_allowed(plugin: Plugin, scope: Scope) -> bool:
    """True without an allow-list; with one, whether the calling address is on it."""
    if plugin.allow_ips is None:
        return True
    client = scope.get("client")
    return plugin.allow_ips.allows(client[0] if client else None)


def _invalid_arguments(exc: pydantic.ValidationError) -> _Answer:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        if error["type"] == "json_invalid":
            return _Answer(400, "malformed_json", f"the body is not valid JSON: {error['msg']}", outcome="bad_request")
        if error["type"] == "model_type" and not error["loc"]:
            return _Answer(400, "invalid_arguments", "the body must be a JSON object", outcome="invalid_arguments")
        problems.append(field_problem(error))
    named = ", ".join(p["field"] for p in problems)
    return _Answer(
        400, "invalid_arguments", f"invalid arguments: {named}", outcome="invalid_arguments", details=problems
    )


def _failed(request_id: str, outcome: str) -> _Answer:
    return _Answer(
        500,
        "tool_failed",
        f"the tool failed unexpectedly; the operator can find the cause by request id {request_id}",
        outcome=outcome,
    )


async def _read_body(receive: Receive, headers: RawHeaders, limit: int) -> bytes:
    body = await read_body(receive, headers.get("content-length"), limit)
    if body and not is_json_media_type(headers.get("content-type")):
        raise _Answer(
            415, "unsupported_media_type", "send the arguments as Content-Type: application/json", outcome="bad_request"
        )
    return body
