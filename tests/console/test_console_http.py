"""The console over HTTP against a real ``cozegate serve``: login and its cookie, CSRF, dead-letter actions
(audited), escaping, the configuration pages and the overview's numbers (SQLite; the numbers on
PostgreSQL too)."""

from __future__ import annotations

import asyncio
import html
import math
import time
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from cozegate.console.session import SESSION_COOKIE, SESSION_SECONDS, ConsoleSessions
from cozegate.health.incidents import IncidentStore
from cozegate.storage import Database, create_engine
from tests.conftest import Backend
from tests.console.conftest import ADMIN, ADMIN_TOKEN, Console, dead_letters, make_dead_letters, send
from tests.support.inspect_db import audit_rows, inbox_rows
from tests.support.server import ServerProcess
from tests.support.waiting import wait_for

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
PAGES = ["/console", "/console/dead-letters", "/console/dead-letters/1", "/console/bots", "/console/rollouts"]
PAGES += ["/console/tenants"]


def set_cookie(response: httpx.Response, name: str) -> SimpleCookie:
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers}")


def statuses(backend: Backend) -> dict[str, str]:
    return {r["dedup_key"]: r["status"] for r in inbox_rows(backend)}


def console_audit(backend: Backend) -> list[tuple[str, str, str | None]]:
    return [
        (a["action"], a["target"], a["request_id"]) for a in audit_rows(backend) if a["actor"] == "console:admin-token"
    ]


@sqlite_only
def test_every_page_needs_the_admin_session(server: ServerProcess, backend: Backend) -> None:
    http = httpx.Client(base_url=server.url, timeout=30)
    for path in PAGES:
        r = http.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/console/login?next=%2Fconsole"), path
    r = http.get("/console/api/stats")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    ids = make_dead_letters(server, backend, ["anon-1"])
    for action in ("replay", "discard"):  # an action without a session changes nothing
        r = http.post(f"/console/dead-letters/{ids['anon-1']}/{action}", data={"csrf": "x"})
        assert (r.status_code, r.headers["location"]) == (303, "/console/login")
    r = http.post("/console/dead-letters/bulk", data={"action": "discard", "id": [str(ids["anon-1"])]})
    assert r.status_code == 303
    assert statuses(backend)["anon-1"] == "dead"
    assert http.get("/admin/dead-letters").status_code == 401  # the console cookie is no API credential
    http.close()


@sqlite_only
def test_login_cookie_and_logout(server: ServerProcess, console: Console) -> None:
    wrong = console.login("not-the-token-4711")
    assert wrong.status_code == 401
    assert "That is not the admin token." in wrong.text
    assert "not-the-token-4711" not in wrong.text
    assert "set-cookie" not in wrong.headers

    ok = console.post("/console/login", {"token": ADMIN_TOKEN, "next": "/console/tenants"})
    assert (ok.status_code, ok.headers["location"]) == (303, "/console/tenants")
    cookie = set_cookie(ok, SESSION_COOKIE)[SESSION_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/console"
    assert int(cookie["max-age"]) == SESSION_SECONDS
    assert not cookie["secure"]  # plain http here
    assert ADMIN_TOKEN not in cookie.value
    for path in PAGES[:2] + PAGES[3:]:
        r = console.get(path)
        assert r.status_code == 200, path
        assert r.headers["x-frame-options"] == "DENY"
        assert "script-src 'self'" in r.headers["content-security-policy"]
    assert console.get("/console/api/stats").status_code == 200

    # Behind a TLS-terminating proxy (trusted forwarded headers from loopback) the cookie is Secure.
    https = console.http.post("/console/login", data={"token": ADMIN_TOKEN}, headers={"x-forwarded-proto": "https"})
    assert set_cookie(https, SESSION_COOKIE)[SESSION_COOKIE]["secure"] is True

    # Never to another site after login.
    away = console.post("/console/login", {"token": ADMIN_TOKEN, "next": "//evil.example/console"})
    assert away.headers["location"] == "/console"

    logout_without_csrf = console.post("/console/logout", {})
    assert logout_without_csrf.status_code == 403
    copied, csrf = console.http.cookies[SESSION_COOKIE], console.csrf()
    out = console.post("/console/logout", {"csrf": csrf})
    assert (out.status_code, out.headers["location"]) == (303, "/console/login")
    assert console.get("/console").status_code == 303
    # a copy of the cookie taken before the logout opens nothing: the session itself ended
    stolen = httpx.Client(base_url=server.url, cookies={SESSION_COOKIE: copied}, follow_redirects=False)
    with stolen:
        assert stolen.get("/console").status_code == 303
        assert stolen.get("/console/api/stats").status_code == 401
        assert stolen.post("/console/logout", data={"csrf": csrf}).headers["location"] == "/console/login"
    assert ADMIN_TOKEN not in server.logs()
    assert "not-the-token-4711" not in server.logs()


@sqlite_only
def test_forged_expired_or_other_token_sessions_are_refused(server: ServerProcess) -> None:
    now = time.time()
    other = ConsoleSessions(SecretStr("a-rotated-token")).issue()
    expired = ConsoleSessions(SecretStr(ADMIN_TOKEN), clock=lambda: now - SESSION_SECONDS - 5).issue()
    valid = ConsoleSessions(SecretStr(ADMIN_TOKEN)).issue()
    payload, _, signed = valid.partition(".")
    tampered = ("A" if payload[0] != "A" else "B") + payload[1:] + "." + signed  # another nonce, same signature
    assert tampered != valid
    for value in (other, expired, tampered, "v1.1.2.3", ""):
        r = httpx.get(server.url + "/console", cookies={SESSION_COOKIE: value})
        assert r.status_code == 303, value
    assert httpx.get(server.url + "/console", cookies={SESSION_COOKIE: valid}).status_code == 200


@sqlite_only
def test_actions_need_the_sessions_csrf_token(server: ServerProcess, backend: Backend, console: Console) -> None:
    ids = make_dead_letters(server, backend, ["csrf-1"])
    event_id = ids["csrf-1"]
    assert console.login().status_code == 303
    other = Console(server)
    assert other.login().status_code == 303
    foreign = other.csrf()  # valid, but for another session
    other.close()
    for data in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": foreign}):
        for path in (f"/console/dead-letters/{event_id}/replay", f"/console/dead-letters/{event_id}/discard"):
            r = console.post(path, data)
            assert r.status_code == 403, (path, data)
            assert "security token" in r.text
        r = console.post("/console/dead-letters/bulk", {**data, "action": "discard", "id": [str(event_id)]})
        assert r.status_code == 403
    r = console.http.post(  # a JSON body (not what the form sends) carries no token either
        f"/console/dead-letters/{event_id}/discard", json={"csrf": console.csrf()}
    )
    assert r.status_code == 403
    assert statuses(backend)["csrf-1"] == "dead"
    assert not [a for a in console_audit(backend) if a[0] not in ("dead_letter.list", "console.login")]


@sqlite_only
def test_replay_and_discard_one_and_many(server: ServerProcess, backend: Backend, console: Console) -> None:
    keys = ["dl-1", "dl-2", "dl-3", "dl-4", "dl-5"]
    ids = make_dead_letters(server, backend, keys)
    (backend.tmp / "fixed.flag").touch()  # the downstream works again
    assert console.login().status_code == 303
    csrf = console.csrf()

    r = console.post(f"/console/dead-letters/{ids['dl-1']}/replay", {"csrf": csrf}, headers={"x-request-id": "op-1"})
    page = console.follow(r)
    assert f"replayed 1 (#{ids['dl-1']})" in page.text
    assert console.get("/console/dead-letters").text.count('id="flash"') == 0  # shown once

    r = console.post(f"/console/dead-letters/{ids['dl-2']}/discard", {"csrf": csrf})
    assert f"discarded 1 (#{ids['dl-2']})" in console.follow(r).text

    chosen = [str(ids["dl-3"]), str(ids["dl-4"]), str(ids["dl-2"])]  # dl-2 is no longer a dead letter
    r = console.post(
        "/console/dead-letters/bulk",
        {"csrf": csrf, "action": "replay", "id": chosen, "return_to": "/console/dead-letters?tenant=default"},
        headers={"x-request-id": "op-bulk"},
    )
    assert r.headers["location"] == "/console/dead-letters?tenant=default"
    page = console.follow(r)
    assert f"replayed 2 (#{ids['dl-3']}, #{ids['dl-4']})" in html.unescape(page.text)
    assert f"no longer dead letters, left as they are: #{ids['dl-2']}" in html.unescape(page.text)

    r = console.post("/console/dead-letters/bulk", {"csrf": csrf, "action": "discard", "id": [str(ids["dl-5"])]})
    assert f"discarded 1 (#{ids['dl-5']})" in console.follow(r).text
    wait_for(
        lambda: (
            statuses(backend)
            == {"dl-1": "done", "dl-2": "discarded", "dl-3": "done", "dl-4": "done", "dl-5": "discarded"}
        )
    )
    assert dead_letters(server) == []
    page = console.get("/console/dead-letters")
    assert 'id="no-dead-letters"' in page.text

    audit = console_audit(backend)
    assert ("dead_letter.replay", str(ids["dl-1"]), "op-1") in audit
    assert ("dead_letter.replay", str(ids["dl-3"]), "op-bulk") in audit
    assert ("dead_letter.replay", str(ids["dl-4"]), "op-bulk") in audit
    assert ("dead_letter.discard", str(ids["dl-2"])) in [a[:2] for a in audit]
    assert ("dead_letter.discard", str(ids["dl-5"])) in [a[:2] for a in audit]
    assert [a[1] for a in audit if a[0] == "dead_letter.replay"].count(str(ids["dl-2"])) == 0

    gone = console.get(f"/console/dead-letters/{ids['dl-1']}")
    assert gone.status_code == 404
    assert "status done" in gone.text
    assert console.get("/console/dead-letters/999999").status_code == 404
    assert (
        console.post("/console/dead-letters/bulk", {"csrf": csrf, "action": "explode", "id": ["1"]}).status_code == 400
    )
    assert console.post("/console/dead-letters/bulk", {"csrf": csrf, "action": "replay"}).status_code == 400


@sqlite_only
def test_dead_letter_pages_escape_what_they_show(server: ServerProcess, backend: Backend, console: Console) -> None:
    key = '<img src=x onerror="alert(1)">'
    send(server, backend, key, "always_fail", note="</pre><script>alert('payload')</script>")
    letter = wait_for(lambda: next((d for d in dead_letters(server) if d["dedup_key"] == key), None))
    assert console.login().status_code == 303

    listing = console.get("/console/dead-letters")
    detail = console.get(f"/console/dead-letters/{letter['id']}")
    assert detail.status_code == 200
    for page in (listing.text, detail.text):
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert "&lt;/pre&gt;&lt;script&gt;alert(&#39;payload&#39;)&lt;/script&gt;" in detail.text
    assert "RuntimeError: downstream refused &lt;img" in detail.text  # last error and history, escaped
    assert detail.text.count("downstream refused") == 3  # last error + two attempts
    assert '"event_type": "always_fail"' in html.unescape(detail.text)  # pretty-printed JSON
    assert ("dead_letter.show", str(letter["id"])) in [a[:2] for a in console_audit(backend)]

    by_tenant = console.get("/console/dead-letters", params={"tenant": "acme"})
    assert 'id="no-dead-letters"' in by_tenant.text
    paged = console.get("/console/dead-letters", params={"limit": "1"})
    assert 'id="next-page"' in paged.text
    assert console.get("/console/dead-letters", params={"limit": "0"}).status_code == 400


@sqlite_only
def test_bots_rollouts_and_tenants_pages(server: ServerProcess, backend: Backend, console: Console) -> None:
    r = httpx.put(server.url + "/admin/bots/shop", headers=ADMIN, json={"tenant": "default", "recovery": "rollback"})
    assert r.status_code == 201, r.text

    async def incidents() -> None:
        db = Database(create_engine(backend.settings()))
        store = IncidentStore(db)
        try:
            first = await store.open("shop", "default", "probe timed out <3x>", "rollback", None, time.time() - 60)
            assert first is not None
            assert await store.close(first.id, time.time() - 30)
            assert await store.open("shop", "default", "coze answered 500", "rollback", None, time.time())
        finally:
            await db.close()

    asyncio.run(incidents())
    assert console.login().status_code == 303
    bots = console.get("/console/bots").text
    assert 'data-bot="shop"' in bots
    assert "pending" in bots
    assert "rollback" in bots
    assert "coze answered 500" in bots  # the open incident
    assert "probe timed out &lt;3x&gt;" in bots  # a recent one, escaped

    rollouts = console.get("/console/rollouts").text
    assert 'data-tenant="acme"' in rollouts
    assert "new-prompt" in rollouts
    assert "90 %" in rollouts
    assert "10 %" in rollouts
    assert 'value="1000"' in rollouts

    tenants = console.get("/console/tenants").text
    assert 'data-tenant="acme"' in tenants
    assert 'data-tenant="default"' in tenants
    assert '<td class="num keys">2 <span class="muted small">(1 expiring)</span></td>' in tenants
    for secret in ("hub-secret-value-1", "hub-secret-value-2", backend.secret):
        assert secret not in tenants
    assert "file:" in tenants
    assert "refused</span>" not in tenants

    broken = backend.tmp / "tenants.yaml.new"  # replaced whole, so the watcher never reads half a file
    broken.write_text("tenants:\n  default: [unclosed\n")
    broken.replace(backend.tmp / "tenants.yaml")
    page = wait_for(lambda: (t := console.get("/console/tenants").text) and "not valid YAML" in t and t)
    assert "refused</span>" in page
    assert 'data-tenant="acme"' in page  # the last good configuration stays in force


def stats_of(console: Console) -> dict[str, Any]:
    r = console.get("/console/api/stats")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def test_stats_count_the_events_sent(server: ServerProcess, backend: Backend, console: Console) -> None:
    """Both backends: 3 events processed, 2 dead after 2 attempts each: the series and depth say so."""
    for i in range(3):
        send(server, backend, f"ok-{i}", "message_create")
    for i in range(2):
        send(server, backend, f"bad-{i}", "always_fail")
    wait_for(lambda: len(dead_letters(server)) == 2 and statuses(backend).get("ok-2") == "done")
    assert console.login().status_code == 303
    expected = {"received": 5, "processed": 3, "failed_attempts": 4, "dead_letters": 2}
    stats = wait_for(lambda: (s := stats_of(console))["totals"] == expected and s)
    assert len(stats["minutes"]) == 60
    assert stats["minutes"][1] - stats["minutes"][0] == 60
    assert sum(stats["received"]) == 5
    assert sum(stats["processed"]) == 3
    p50 = [v for v in stats["latency_p50_seconds"] if v is not None]
    p95 = [v for v in stats["latency_p95_seconds"] if v is not None]
    assert p50
    assert all(0 <= a <= b for a, b in zip(p50, p95, strict=True))
    assert stats["depth"]["dead"] == 2
    assert stats["worker"]["concurrency"] >= 1
    assert stats["worker"]["owner"]
    # The same numbers computed here from the rows: per minute, counts and nearest-rank percentiles.
    start = stats["window"]["start"]
    received = [0] * 60
    done: dict[int, list[float]] = {}
    for row in inbox_rows(backend):
        received[int((row["received_at"] - start) // 60)] += 1
        if row["status"] == "done":
            done.setdefault(int((row["finished_at"] - start) // 60), []).append(row["finished_at"] - row["received_at"])
    assert stats["received"] == received
    assert stats["processed"] == [len(done.get(i, [])) for i in range(60)]
    for i in range(60):
        values = sorted(done.get(i, []))
        if not values:
            assert stats["latency_p50_seconds"][i] is None
            continue
        assert stats["latency_p50_seconds"][i] == pytest.approx(values[math.ceil(0.5 * len(values)) - 1])
        assert stats["latency_p95_seconds"][i] == pytest.approx(values[math.ceil(0.95 * len(values)) - 1])

    overview = console.get("/console")
    assert 'id="chart-throughput"' in overview.text
    assert '<a href="/console/dead-letters" id="depth-dead">2</a>' in overview.text


def test_sign_ins_are_audited_and_limited_per_client(server: ServerProcess, backend: Backend) -> None:
    attempts = [Console(server) for _ in range(12)]
    try:
        answers = [c.login("not-the-token").status_code for c in attempts]
        assert answers[:10] == [401] * 10  # a burst of ten, then the address must wait
        assert answers[10:] == [429, 429]
        limited = attempts[0].login()  # even the right token waits: no oracle for a guessing client
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
    finally:
        for c in attempts:
            c.close()
    actions = [(a["actor"], a["action"]) for a in audit_rows(backend) if a["action"].startswith("console.")]
    assert actions == [("console", "console.login_refused")] * 10


def test_malformed_numbers_and_unknown_tenants_are_400_not_500(server: ServerProcess, console: Console) -> None:
    assert console.login().status_code == 303
    for path in (
        "/console/dead-letters/²",
        "/console/dead-letters?limit=²",
        "/console/dead-letters?after_id=9223372036854775808",
        "/console/dead-letters?after_id=" + "9" * 5000,
        "/console/dead-letters?tenant=" + "t" * 65,
    ):
        r = console.get(path)
        assert r.status_code == 400, (path[:60], r.status_code)
    r = console.post("/console/dead-letters/bulk", {"csrf": console.csrf(), "action": "replay", "id": ["²"]})
    assert r.status_code == 400
    assert "Traceback" not in server.logs()
