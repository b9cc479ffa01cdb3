"""Jinja2 templates of the console (autoescaped, packaged with cozegate) and the headers every page gets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse

from cozegate.console.session import Flash, Session

# Scripts, styles and images only from the console itself: no inline script, no CDN, no framing.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

NAV = (
    ("overview", "/console", "Overview"),
    ("dead-letters", "/console/dead-letters", "Dead letters"),
    ("bots", "/console/bots", "Bots"),
    ("rollouts", "/console/rollouts", "Rollouts"),
    ("tenants", "/console/tenants", "Tenants"),
)


def format_time(value: float | None) -> str:
    """Unix seconds as ``2024-05-01 12:00:03 UTC`` (an empty value as a dash)."""
    if value is None or value == 0:
        return "—"
    return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def pretty_json(text: str) -> str:
    """An event payload indented for reading (as it was, when it is not JSON). Escaped by the template."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def build_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("cozegate.console", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_time
    env.filters["seconds"] = format_seconds
    env.filters["pretty_json"] = pretty_json
    return env


class Pages:
    """Renders a template into a response with the layout's context and the security headers."""

    def __init__(self, env: Environment | None = None) -> None:
        self._env = env or build_environment()

    def render(
        self,
        name: str,
        *,
        request_id: str,
        session: Session | None = None,
        active: str = "",
        flash: Flash | None = None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        html = self._env.get_template(name).render(
            nav=NAV,
            active=active,
            csrf=session.csrf if session is not None else "",
            signed_in=session is not None,
            flash=flash,
            request_id=request_id,
            **context,
        )
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
