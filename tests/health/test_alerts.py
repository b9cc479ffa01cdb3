"""Alert bodies per chat (Feishu/Lark signed as their docs say, WeCom markdown, Slack blocks) and the
sender's behaviour against real loopback webhooks: a chat that refuses (HTTP 200 with a non-zero
code, as Feishu answers a bad signature) counts as failed and is retried once."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cozegate.health.alerts import Alert, Alerter, feishu_sign, render
from cozegate.settings.model import AlertWebhook
from tests.health.chat_webhooks import ChatWebhooks

ALERT = Alert("[cozegate] bot shop is unhealthy (incident 7)", ("failing: canary: 5000", "action: circuit opened"))


def channel(kind: str, secret: str | None = None) -> AlertWebhook:
    return AlertWebhook.model_validate({"kind": kind, "url": f"https://chat.example/{kind}", "secret": secret})


@given(timestamp=st.integers(0, 2**33), secret=st.text(min_size=1, max_size=64))
def test_feishu_signature_matches_the_documented_algorithm(timestamp: int, secret: str) -> None:
    expected = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    assert base64.b64decode(feishu_sign(timestamp, secret)) == expected


def test_feishu_and_lark_bodies_carry_timestamp_and_sign_only_with_a_secret() -> None:
    signed = render(channel("lark", "s3cret"), ALERT, now=lambda: 1_700_000_000.5)
    assert signed["timestamp"] == "1700000000"
    assert signed["sign"] == feishu_sign(1_700_000_000, "s3cret")
    assert signed["msg_type"] == "text"
    assert signed["content"]["text"].splitlines() == [ALERT.title, *ALERT.lines]
    unsigned = render(channel("feishu"), ALERT)
    assert "sign" not in unsigned
    assert "timestamp" not in unsigned


def test_wecom_and_slack_bodies() -> None:
    wecom = render(channel("wecom"), ALERT)
    assert wecom["msgtype"] == "markdown"
    assert ALERT.title in wecom["markdown"]["content"]
    assert 'color="warning"' in wecom["markdown"]["content"]
    assert 'color="info"' in render(channel("wecom"), Alert("ok", (), resolved=True))["markdown"]["content"]
    slack = render(channel("slack"), ALERT)
    assert slack["text"].startswith(ALERT.title)
    assert slack["blocks"][0]["type"] == "header"


@pytest.fixture(scope="module")
def chats() -> Iterator[ChatWebhooks]:
    server = ChatWebhooks().start()
    yield server
    server.stop()


async def test_a_refusing_chat_counts_as_failed_and_others_still_get_the_alert(chats: ChatWebhooks) -> None:
    chats.received.clear()
    chats.refuse_feishu = True
    try:
        channels = [
            AlertWebhook.model_validate({"kind": "feishu", "url": chats.url("feishu"), "secret": "x"}),
            AlertWebhook.model_validate({"kind": "wecom", "url": chats.url("wecom")}),
            AlertWebhook.model_validate({"kind": "slack", "url": "http://127.0.0.1:9/unreachable"}),
        ]
        async with httpx.AsyncClient(timeout=5) as http:
            delivered = await Alerter(channels, http).send(ALERT)
    finally:
        chats.refuse_feishu = False
    assert delivered == 1  # WeCom only
    assert len(chats.received["feishu"]) == 2  # refused, retried once, given up
    assert len(chats.received["wecom"]) == 1


def test_secrets_do_not_show_in_the_settings_repr() -> None:
    webhook = channel("feishu", "very-secret-value")
    assert "very-secret-value" not in repr(webhook)
