"""The console's pieces without a server: sessions and CSRF tokens, flash messages, packaged assets."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
from pydantic import SecretStr

from cozegate.console.rendering import Pages, build_environment
from cozegate.console.session import SESSION_SECONDS, ConsoleSessions, Flash

TOKEN = SecretStr("the-admin-token")


def test_sessions_expire_and_end_with_the_token() -> None:
    now = [1_000_000.0]
    sessions = ConsoleSessions(TOKEN, clock=lambda: now[0])
    cookie = sessions.issue()
    assert "the-admin-token" not in cookie
    session = sessions.verify(cookie)
    assert session is not None
    assert session.expires_at == 1_000_000 + SESSION_SECONDS
    now[0] += SESSION_SECONDS
    assert sessions.verify(cookie) is not None
    now[0] += 1
    assert sessions.verify(cookie) is None  # expired
    now[0] = 1_000_000.0
    rotated = ConsoleSessions(SecretStr("a-new-token"), clock=lambda: now[0])
    assert rotated.verify(cookie) is None  # a new admin token logs everyone out
    assert ConsoleSessions(None).verify(cookie) is None  # no token: no console
    assert not ConsoleSessions(None).token_matches("")


def test_csrf_tokens_belong_to_their_session() -> None:
    sessions = ConsoleSessions(TOKEN)
    one, two = sessions.verify(sessions.issue()), sessions.verify(sessions.issue())
    assert one is not None
    assert two is not None
    assert one.csrf != two.csrf
    assert sessions.csrf_matches(one, one.csrf)
    assert not sessions.csrf_matches(one, two.csrf)
    assert not sessions.csrf_matches(one, "")
    assert not sessions.csrf_matches(one, None)


def test_flash_messages_are_signed_and_short_lived() -> None:
    now = [2_000_000.0]
    sessions = ConsoleSessions(TOKEN, clock=lambda: now[0])
    cookie = sessions.flash_cookie(Flash("ok", "replayed 3 (#1, #2, #3)"))
    assert sessions.read_flash(cookie) == Flash("ok", "replayed 3 (#1, #2, #3)")
    body, _, signature = cookie.partition(".")
    forged = ConsoleSessions(SecretStr("other")).flash_cookie(Flash("ok", "all is well"))
    assert sessions.read_flash(forged) is None
    assert sessions.read_flash(body + "." + "0" * len(signature)) is None
    assert sessions.read_flash("garbage") is None
    now[0] += 61
    assert sessions.read_flash(cookie) is None


def test_templates_and_assets_are_in_the_package() -> None:
    package = files("cozegate.console")
    templates = sorted(p.name for p in (package / "templates").iterdir() if p.name.endswith(".html"))
    assert {"layout.html", "login.html", "overview.html", "dead_letters.html", "dead_letter.html"} <= set(templates)
    env = build_environment()
    for name in templates:
        env.get_template(name)  # parses
    static = package / "static"
    for name in ("console.css", "console.js", "charts.js"):
        assert (static / name).is_file(), name
    vendor = static / "vendor"
    assert (vendor / "uPlot.LICENSE").read_text().startswith("The MIT License")
    assert 10_000 < len((vendor / "uPlot.iife.min.js").read_bytes()) < 100_000
    assert (vendor / "uPlot.min.css").is_file()
    # Offline: nothing is loaded from another site.
    for item in [
        *((package / "templates").iterdir()),
        static / "console.css",
        static / "console.js",
        static / "charts.js",
    ]:
        text = item.read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), item.name
        assert "https://" not in text.replace("https://github.com/leeoniya/uPlot", ""), item.name


@pytest.mark.parametrize("message", ["<script>alert(1)</script>", '" onmouseover="x', "{{ 7 * 7 }}"])
def test_pages_escape_everything(message: str) -> None:
    page = Pages().render("error.html", request_id="<rid>", status=400, message=message)
    text = page.body.decode()
    assert message not in text or message == "{{ 7 * 7 }}"
    assert "49" not in text
    assert "&lt;rid&gt;" in text
    assert page.headers["x-frame-options"] == "DENY"


def test_reply_urls_show_their_host_and_a_fingerprint_of_the_path() -> None:
    from cozegate.console.views import _reply_target

    shown = _reply_target("https://user:pw@hooks.example.com/services/T0001/B0002/XyZsEcReT?token=abc")
    assert shown is not None
    assert shown.startswith("https://hooks.example.com/…#")
    assert "XyZsEcReT" not in shown
    assert "abc" not in shown
    assert "pw" not in shown
    assert _reply_target("https://hooks.example.com") == "https://hooks.example.com"
