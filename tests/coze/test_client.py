"""CozeClient (our wrapper) against the simulator: retries, rate-limit floor, log ids, tool calls."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cozepy import AsyncTokenAuth

from cozegate.coze import ChatFailedError, CozeCallError, CozeClient, CozeRetryPolicy, run_chat
from cozegate.observability import metrics
from tests.support.sim_server import SimServer


class RecordedSleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)  # no wall clock: the test reads the schedule instead


@pytest.fixture
async def client(sim: SimServer) -> AsyncIterator[tuple[CozeClient, RecordedSleeps]]:
    sleeps = RecordedSleeps()
    c = CozeClient(AsyncTokenAuth("test-token"), sim.url, retry=CozeRetryPolicy(max_attempts=4), sleep=sleeps)
    yield c, sleeps
    await c.aclose()


def counter(endpoint: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value("cozegate_coze_retries_total", {"endpoint": endpoint, "reason": reason})
    return value or 0.0


async def test_rate_limits_are_retried_no_sooner_than_the_floor(
    sim: SimServer, client: tuple[CozeClient, RecordedSleeps]
) -> None:
    coze, sleeps = client
    before = counter("conversations.create", "rate_limit")
    sim.add_fault(kind="rate_limit", endpoint="conversations.create", count=2)
    conversation = await coze.create_conversation(bot_id="bot-echo")
    assert conversation.id
    assert len(sleeps.delays) == 2
    assert sleeps.delays[0] >= 1.0, "a rate limit waits at least 1 s"
    assert sleeps.delays[1] >= 2.0, "and twice that the next time"
    assert counter("conversations.create", "rate_limit") - before == 2


async def test_giving_up_carries_code_and_logid(sim: SimServer, client: tuple[CozeClient, RecordedSleeps]) -> None:
    coze, sleeps = client
    sim.add_fault(kind="http_error", endpoint="bots.retrieve")
    with pytest.raises(CozeCallError) as err:
        await coze.retrieve_bot("bot-echo")
    assert err.value.code == 5000
    assert err.value.attempts == 4
    assert err.value.logid, "Coze's log id reaches our error"
    assert err.value.logid in str(err.value)
    assert len(sleeps.delays) == 3


async def test_permanent_errors_are_not_retried(sim: SimServer) -> None:
    sleeps = RecordedSleeps()
    coze = CozeClient(AsyncTokenAuth("wrong-token"), sim.url, sleep=sleeps)
    try:
        with pytest.raises(CozeCallError) as err:
            await coze.retrieve_bot("bot-echo")
        assert (err.value.code, err.value.retryable, err.value.attempts) == (4100, False, 1)
        assert sleeps.delays == []
    finally:
        await coze.aclose()


async def test_tool_calls_run_locally_and_the_answer_uses_their_output(
    client: tuple[CozeClient, RecordedSleeps],
) -> None:
    coze, _ = client
    calls: list[tuple[str, dict[str, object]]] = []

    async def tools(name: str, arguments: dict[str, object]) -> str:
        calls.append((name, arguments))
        return "order 42 ships tomorrow"

    conversation = await coze.create_conversation(bot_id="bot-tool")
    answer = await run_chat(
        coze, bot_id="bot-tool", user_id="u1", conversation_id=conversation.id, text="where is order 42?", tools=tools
    )
    assert calls == [("lookup", {"query": "where is order 42?"})]
    assert answer.text == "Tool result: order 42 ships tomorrow"
    assert answer.tool_calls == 1


async def test_a_cut_stream_is_resumed_without_posting_twice(
    sim: SimServer, client: tuple[CozeClient, RecordedSleeps]
) -> None:
    coze, _ = client
    conversation = await coze.create_conversation(bot_id="bot-echo")
    sim.clear_requests()
    sim.add_fault(kind="stream_cut", endpoint="chat.*", after_events=3, count=1)
    answer = await run_chat(coze, bot_id="bot-echo", user_id="u1", conversation_id=conversation.id, text="hi")
    assert answer.text == "echo: hi"
    assert len(sim.requests("chat.stream")) + len(sim.requests("chat.create")) == 1


async def test_a_failed_chat_is_reported(client: tuple[CozeClient, RecordedSleeps]) -> None:
    coze, _ = client
    conversation = await coze.create_conversation(bot_id="bot-fail")
    with pytest.raises(ChatFailedError) as err:
        await run_chat(coze, bot_id="bot-fail", user_id="u1", conversation_id=conversation.id, text="hi")
    assert err.value.code == 5000


async def test_oauth_jwt_app_credentials(sim: SimServer, tmp_path: object) -> None:
    """The JWT app flow: cozepy signs a JWT, exchanges it for an access token, then calls with it."""
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from cozegate.coze import CozeCredentials

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    key_file = Path(str(tmp_path)) / "app.pem"
    key_file.write_bytes(pem)
    credentials = CozeCredentials(jwt_client_id="app-1", jwt_private_key_file=key_file, jwt_public_key_id="kid-1")
    assert credentials.configured
    coze = CozeClient(credentials.build(sim.url), sim.url)
    try:
        bot = await coze.retrieve_bot("bot-echo")
        assert bot.bot_id == "bot-echo"
        token_calls = sim.requests("oauth.token") or [r for r in sim.requests() if "oauth2/token" in r["path"]]
        assert token_calls, "the JWT was exchanged for an access token"
    finally:
        await coze.aclose()
