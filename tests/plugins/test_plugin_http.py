"""The plugin SDK over real HTTP: ``cozegate plugins serve`` in its own process, every answer it can give."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.plugin_server import PluginServerProcess
from tests.support.waiting import wait_for

SPECS = [f"tests.plugins.sample_plugins:{name}" for name in ("plugin", "bearer", "query", "fenced")]
TOKEN = "tok-one"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PluginServerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("plugins")
    (tmp / "progress").mkdir()
    tokens = tmp / "tokens.txt"
    tokens.write_text(f"# service tokens of `sample`\n{TOKEN}\n")
    env = {"SAMPLE_TOKEN_FILE": str(tokens), "PROGRESS_DIR": str(tmp / "progress")}
    server = PluginServerProcess(SPECS, tmp / "plugins.log", env).start()
    try:
        yield server, tmp
    finally:
        server.stop()


@pytest.fixture
def server(served: tuple[PluginServerProcess, Path]) -> PluginServerProcess:
    return served[0]


def call(
    server: PluginServerProcess, tool: str, body: Any = None, *, token: str | None = TOKEN, **kwargs: Any
) -> httpx.Response:
    headers = {"X-Api-Key": token} if token is not None else {}
    headers.update(kwargs.pop("headers", {}))
    if body is not None:
        kwargs["json"] = body
    return httpx.post(f"{server.url}/plugins/sample/{tool}", headers=headers, timeout=10, **kwargs)


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def test_typed_async_tool_answers_its_model(server: PluginServerProcess) -> None:
    response = call(server, "echo", {"text": "ab", "times": 3})
    assert response.status_code == 200
    assert response.json() == {"text": "ababab", "length": 6}
    assert response.headers["content-type"] == "application/json"


def test_sync_tool_with_a_primitive_result_is_wrapped_in_an_object(server: PluginServerProcess) -> None:
    response = call(server, "add", {"a": 2, "b": 40})
    assert response.status_code == 200
    assert response.json() == {"result": 42}


def test_request_id_is_taken_from_the_caller(server: PluginServerProcess) -> None:
    response = call(server, "echo", {"text": "x"}, headers={"x-request-id": "req-123"})
    assert response.headers["x-request-id"] == "req-123"


def test_coze_call_headers_reach_the_tool_context(server: PluginServerProcess) -> None:
    headers = {"X-AIPlugin-Bot-ID": "bot-1", "X-AIPlugin-Conversation-ID": "conv-9", "X-Tt-Logid": "20261125abc"}
    response = call(server, "whoami", None, headers=headers)
    assert response.json()["text"] == "bot-1/conv-9/20261125abc"


@pytest.mark.parametrize(
    ("token", "code"),
    [(None, "missing_credentials"), ("wrong", "invalid_credentials"), ("", "invalid_credentials")],
)
def test_service_token_is_required(server: PluginServerProcess, token: str | None, code: str) -> None:
    response = call(server, "echo", {"text": "x"}, token=token)
    assert response.status_code == 401
    assert error_of(response)["code"] == code


def test_bearer_plugin(server: PluginServerProcess) -> None:
    url = f"{server.url}/plugins/bearer_sample/ping"
    assert httpx.post(url, headers={"Authorization": "Bearer tok-b"}).json() == {"count": 1}
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "tok-b"}, {"X-Api-Key": "tok-b"}):
        response = httpx.post(url, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_query_token_plugin(server: PluginServerProcess) -> None:
    url = f"{server.url}/plugins/query_sample/ping"
    assert httpx.post(url, params={"api_key": "tok-q"}).json() == {"count": 1}
    assert httpx.post(url, params={"api_key": "tok-x"}).status_code == 401
    assert httpx.post(url, headers={"api_key": "tok-q"}).status_code == 401


def test_ip_allow_list_refuses_other_addresses(server: PluginServerProcess) -> None:
    response = httpx.post(f"{server.url}/plugins/fenced_sample/ping")
    assert response.status_code == 403
    assert error_of(response)["code"] == "ip_not_allowed"
    assert httpx.get(f"{server.url}/plugins/fenced_sample/openapi.json").status_code == 403


def test_token_rotation_through_the_token_file(served: tuple[PluginServerProcess, Path]) -> None:
    server, tmp = served
    tokens = tmp / "tokens.txt"
    original = tokens.read_text()
    try:
        tokens.write_text(f"{TOKEN}\ntok-two\n")  # rotation starts: both are valid
        wait_for(lambda: call(server, "add", {"a": 1, "b": 1}, token="tok-two").status_code == 200, timeout=5)
        assert call(server, "add", {"a": 1, "b": 1}, token=TOKEN).status_code == 200
        tokens.write_text("tok-two\n")  # the old token is retired
        wait_for(lambda: call(server, "add", {"a": 1, "b": 1}, token=TOKEN).status_code == 401, timeout=5)
        assert call(server, "add", {"a": 1, "b": 1}, token="tok-two").status_code == 200
    finally:
        tokens.write_text(original)
        wait_for(lambda: call(server, "add", {"a": 1, "b": 1}).status_code == 200, timeout=5)


def test_an_emptied_token_file_refuses_every_call_and_says_so(served: tuple[PluginServerProcess, Path]) -> None:
    server, tmp = served
    tokens = tmp / "tokens.txt"
    original = tokens.read_text()
    try:
        tokens.write_text("# every token removed\n")
        response = wait_for(lambda: (r := call(server, "add", {"a": 1, "b": 1})).status_code == 503 and r, timeout=5)
        assert error_of(response)["code"] == "auth_not_configured"
        assert "tokens.txt" not in response.text  # where the tokens live is for the log, not the caller
        wait_for(lambda: "write the plugin's service token into" in server.logs(), timeout=5)
    finally:
        tokens.write_text(original)
        wait_for(lambda: call(server, "add", {"a": 1, "b": 1}).status_code == 200, timeout=5)


def test_unknown_plugin_or_tool_is_404(server: PluginServerProcess) -> None:
    for path in ("/plugins/sample/nope", "/plugins/nope/echo", "/plugins/sample"):
        response = httpx.post(server.url + path, headers={"X-Api-Key": TOKEN})
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "unknown_tool"


def test_tools_are_called_with_post(server: PluginServerProcess) -> None:
    response = httpx.get(f"{server.url}/plugins/sample/echo", headers={"X-Api-Key": TOKEN})
    assert response.status_code == 405


def test_validation_errors_name_each_bad_field(server: PluginServerProcess) -> None:
    response = call(server, "echo", {"times": "many"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_arguments"
    assert {d["field"] for d in error["details"]} == {"text", "times"}
    assert "text, times" in error["message"]


def test_nested_field_errors_are_named_by_path(server: PluginServerProcess) -> None:
    response = call(server, "echo", {"text": "x" * 101, "times": 9})
    details = error_of(response)["details"]
    assert [d["field"] for d in details] == ["text", "times"]
    assert "100" in details[0]["problem"]


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"{not json", "malformed_json"), (b"[1, 2]", "invalid_arguments"), (b'"text"', "invalid_arguments")],
)
def test_malformed_bodies_are_400(server: PluginServerProcess, content: bytes, code: str) -> None:
    response = call(server, "echo", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert error_of(response)["code"] == code


def test_wrong_media_type_is_415(server: PluginServerProcess) -> None:
    response = call(server, "echo", content=b"text=x", headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415


def test_oversize_body_is_413(server: PluginServerProcess) -> None:
    body = json.dumps({"text": "x" * (1 << 20)}).encode()
    response = call(server, "echo", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert error_of(response)["code"] == "body_too_large"


def test_tool_error_is_a_readable_200(server: PluginServerProcess) -> None:
    response = call(server, "find", {"order_id": "Z-9"})
    assert response.status_code == 200
    error = error_of(response)
    assert error == {"code": "order_not_found", "message": "there is no order Z-9", "request_id": error["request_id"]}


def test_exception_is_500_without_trace_or_secret_and_logged_with_request_id(server: PluginServerProcess) -> None:
    response = call(server, "explode", {"note": "n"}, headers={"x-request-id": "boom-1"})
    assert response.status_code == 500
    assert error_of(response)["code"] == "tool_failed"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "boom-1" in response.json()["error"]["message"]

    def logged() -> bool:
        return any(
            entry.get("request_id") == "boom-1" and "RuntimeError" in entry.get("exc", "")
            for entry in _log_entries(server)
        )

    wait_for(logged, timeout=5)


def test_output_that_breaks_the_return_type_is_500_and_its_value_is_not_logged(server: PluginServerProcess) -> None:
    response = call(server, "wrong_output", None, headers={"x-request-id": "bad-output-1"})
    assert response.status_code == 500
    assert error_of(response)["code"] == "tool_failed"
    entry = wait_for(lambda: next((e for e in _log_entries(server) if e.get("request_id") == "bad-output-1"), None))
    assert "does not match its return type" in entry["msg"]
    assert "not a count" not in json.dumps(entry)


def _log_entries(server: PluginServerProcess) -> list[dict[str, Any]]:
    entries = []
    for line in server.logs().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def _steps(path: Path) -> int:
    return int(path.read_text() or 0) if path.exists() else 0


@pytest.mark.parametrize("tool", ["spin", "spin_async"])
def test_deadline_answers_in_time_and_really_stops_the_work(
    served: tuple[PluginServerProcess, Path], tool: str
) -> None:
    server, tmp = served
    marker = f"m{tool.replace('_', '')}"
    progress = tmp / "progress" / marker
    response = call(server, tool, {"marker": marker})
    assert response.status_code == 200
    error = error_of(response)
    assert error["code"] == "deadline_exceeded"
    assert "within 2 s" in error["message"]
    assert _steps(progress) > 0  # it did run
    time.sleep(0.1)  # a step in flight may still land
    stopped_at = _steps(progress)
    time.sleep(0.3)  # 60 more steps if it were still running
    assert _steps(progress) == stopped_at


def test_cooperative_tool_sees_its_cancellation(served: tuple[PluginServerProcess, Path]) -> None:
    server, tmp = served
    response = call(server, "polite_spin", {"marker": "polite"})
    assert error_of(response)["code"] == "deadline_exceeded"
    wait_for(lambda: (tmp / "progress" / "politedone").exists(), timeout=5)


def test_concurrency_limit_refuses_with_429_until_a_slot_frees(served: tuple[PluginServerProcess, Path]) -> None:
    server, tmp = served
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(call, server, "hold", {"seconds": 1.0, "marker": "holding"})
        wait_for(lambda: (tmp / "progress" / "holding").exists(), timeout=5)
        refused = call(server, "hold", {"seconds": 0})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert error_of(refused)["code"] == "tool_busy"
        assert first.result().status_code == 200
    assert call(server, "hold", {"seconds": 0}).status_code == 200


def test_a_call_that_cannot_be_interrupted_keeps_its_slot_until_it_stops(server: PluginServerProcess) -> None:
    late = call(server, "stubborn", {"seconds": 1.0})
    assert error_of(late)["code"] == "deadline_exceeded"
    assert call(server, "stubborn", {"seconds": 0}).status_code == 429  # the sleeping thread still holds it
    wait_for(lambda: call(server, "stubborn", {"seconds": 0}).status_code == 200, timeout=5)


def test_metrics_count_calls_by_outcome(server: PluginServerProcess) -> None:
    call(server, "add", {"a": 1, "b": 2})
    call(server, "add", {"a": "x", "b": 2})
    text = httpx.get(server.url + "/metrics").text
    assert 'cozegate_plugin_calls_total{outcome="ok",plugin="sample",tool="add"}' in text
    assert 'cozegate_plugin_calls_total{outcome="invalid_arguments",plugin="sample",tool="add"}' in text
    assert 'cozegate_plugin_call_seconds_count{plugin="sample",tool="add"}' in text


def test_plugin_describes_itself_for_import(server: PluginServerProcess) -> None:
    spec = httpx.get(f"{server.url}/plugins/sample/openapi.json").json()
    assert spec["servers"] == [{"url": server.url}]
    assert "/plugins/sample/echo" in spec["paths"]
    manifest = httpx.get(f"{server.url}/plugins/sample/manifest.json").json()
    assert manifest["auth"]["type"] == "service_http"
    assert TOKEN not in json.dumps(manifest)
    assert httpx.get(f"{server.url}/plugins/sample/openapi.yaml").text.startswith("openapi: 3.0.1")
