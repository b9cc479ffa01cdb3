"""Alerts to team chats through their incoming-webhook bots: Feishu / Lark, WeCom and Slack formats.

- Feishu / Lark custom bots: ``{"msg_type": "text", "content": {"text": ...}}``; with a signing
  secret the body also carries ``timestamp`` and ``sign`` = base64(HMAC-SHA256 keyed by
  ``"{timestamp}\\n{secret}"`` over an empty message), as their docs prescribe.
- WeCom group bots: ``{"msgtype": "markdown", "markdown": {"content": ...}}`` (the key is in the URL;
  WeCom has no signing).
- Slack incoming webhooks: ``{"text": ..., "blocks": [...]}`` (the URL is the secret; no signing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from cozegate.observability import metrics
from cozegate.settings.model import AlertWebhook

log = logging.getLogger(__name__)

AlertChannel = AlertWebhook  # one chat webhook (``COZEGATE_ALERT_WEBHOOKS`` is a JSON list of these)


@dataclass(frozen=True)
class Alert:
    title: str
    lines: tuple[str, ...]
    resolved: bool = False

    @property
    def text(self) -> str:
        return "\n".join([self.title, *self.lines])


def feishu_sign(timestamp: int, secret: str) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def render(channel: AlertChannel, alert: Alert, now: Callable[[], float] = time.time) -> dict[str, Any]:
    """The JSON body ``channel`` expects for ``alert``."""
    if channel.kind in ("feishu", "lark"):
        body: dict[str, Any] = {"msg_type": "text", "content": {"text": alert.text}}
        if channel.secret is not None:
            timestamp = int(now())
            body = {
                "timestamp": str(timestamp),
                "sign": feishu_sign(timestamp, channel.secret.get_secret_value()),
                **body,
            }
        return body
    if channel.kind == "wecom":
        color = "info" if alert.resolved else "warning"
        content = "\n".join([f'<font color="{color}">**{alert.title}**</font>', *(f"> {line}" for line in alert.lines)])
        return {"msgtype": "markdown", "markdown": {"content": content}}
    return {
        "text": alert.text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(alert.lines) or " "}},
        ],
    }


class Alerter:
    """Sends one alert to every channel; a channel that fails is retried once and then logged (an alert
    must never stop the prober)."""

    def __init__(self, channels: list[AlertChannel], http: httpx.AsyncClient, clock: Callable[[], float] = time.time):
        self.channels = channels
        self._http = http
        self._clock = clock

    async def send(self, alert: Alert) -> int:
        delivered = 0
        for channel in self.channels:
            for attempt in (1, 2):
                try:
                    response = await self._http.post(
                        channel.url.get_secret_value(), json=render(channel, alert, self._clock)
                    )
                    response.raise_for_status()
                    if _chat_api_refused(response):
                        raise RuntimeError(f"the chat refused the message: {response.text[:200]}")
                except Exception as exc:
                    if attempt == 2:
                        metrics.ALERTS.labels(channel.kind, "failed").inc()
                        log.warning("alert to %s webhook failed: %s", channel.kind, exc.__class__.__name__)
                    continue
                metrics.ALERTS.labels(channel.kind, "sent").inc()
                delivered += 1
                break
        return delivered


def _chat_api_refused(response: httpx.Response) -> bool:
    """Feishu and WeCom answer HTTP 200 with a non-zero ``code`` / ``errcode`` when they refuse."""
    if "json" not in response.headers.get("content-type", ""):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and bool(body.get("code") or body.get("errcode"))
