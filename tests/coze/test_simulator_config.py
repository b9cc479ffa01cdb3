"""Scenarios from YAML, the `sim` command, and resetting a simulator."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
from cozepy import Coze, CozeAPIError, Message, TokenAuth
from pydantic import ValidationError
from typer.testing import CliRunner

from cozegate.cli.sim import sim as sim_command
from cozegate.coze.simulator import SimulatorConfig, create_simulator_app, load_simulator_config
from tests.support.sim_server import SimServer

q = Message.build_user_question_text
REPO = Path(__file__).resolve().parents[2]

SCENARIO = """
tokens: [pat-local-1]
bots:
  - id: bot-support
    kind: canned
    name: Support
    answers:
      "Where is my order?": "It ships tomorrow."
    default_answer: "Let me check."
    follow_ups: ["Anything else?"]
  - id: bot-weather
    kind: tool
    tool: {name: get_weather, argument: city, answer_template: "Weather: {output}"}
workflows:
  - id: wf-greet
    template: "Hello ${name}!"
faults:
  - kind: rate_limit
    endpoint: chat.create
    count: 1
  - kind: latency
    path: /v1/bots/*
    delay_ms: 5
"""


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO)
    return path


@pytest.fixture
def scenario_sim(scenario_file: Path) -> Iterator[SimServer]:
    server = SimServer(create_simulator_app(load_simulator_config(scenario_file))).start()
    yield server
    server.stop()


def test_yaml_scenario_bots_workflows_tokens_and_faults(scenario_sim: SimServer) -> None:
    coze = Coze(auth=TokenAuth("pat-local-1"), base_url=scenario_sim.url)
    with pytest.raises(CozeAPIError) as limited:  # the scenario's first chat is rate limited
        coze.chat.create(bot_id="bot-support", user_id="u", additional_messages=[q("x")])
    assert limited.value.code == 4020

    result = coze.chat.create_and_poll(bot_id="bot-support", user_id="u", additional_messages=[q("where is my order?")])
    assert result.messages is not None
    assert [(m.type.value, m.content) for m in result.messages if m.type.value != "verbose"] == [
        ("answer", "It ships tomorrow."),
        ("follow_up", "Anything else?"),
    ]
    events = list(coze.chat.stream(bot_id="bot-weather", user_id="u", additional_messages=[q("Oslo")]))
    chat = events[-1].chat
    assert chat is not None
    assert chat.required_action
    assert chat.required_action.submit_tool_outputs
    call = chat.required_action.submit_tool_outputs.tool_calls[0]
    assert call.function is not None
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}

    greeting = coze.workflows.runs.create(workflow_id="wf-greet", parameters={"name": "Ada"})
    assert greeting.data is not None
    assert json.loads(greeting.data) == {"output": "Hello Ada!"}
    assert coze.bots.retrieve(bot_id="bot-echo").bot_id == "bot-echo"  # defaults are still there

    with pytest.raises(CozeAPIError) as old_token:
        Coze(auth=TokenAuth("test-token"), base_url=scenario_sim.url).users.me()
    assert old_token.value.code == 4100


def test_reset_restores_the_scenario(scenario_sim: SimServer) -> None:
    coze = Coze(auth=TokenAuth("pat-local-1"), base_url=scenario_sim.url)
    scenario_sim.clear_faults()
    conversation = coze.conversations.create(bot_id="bot-support")
    assert scenario_sim.admin.post("/sim/reset").json() == {"reset": True}
    with pytest.raises(CozeAPIError) as gone:
        coze.conversations.retrieve(conversation_id=conversation.id)
    assert gone.value.code == 4002
    assert [f["kind"] for f in scenario_sim.faults()] == ["rate_limit", "latency"]
    assert [r["endpoint"] for r in scenario_sim.requests()] == ["conversations.retrieve"]  # the log restarted


def test_config_defaults_and_validation(tmp_path: Path) -> None:
    config = SimulatorConfig()
    assert config.tokens == ["test-token"]
    assert [b.id for b in config.all_bots()] == ["bot-echo", "bot-canned", "bot-knowledge", "bot-tool", "bot-fail"]
    assert [w.id for w in config.all_workflows()] == ["wf-echo", "wf-fail"]
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_simulator_config(empty) == SimulatorConfig()
    with pytest.raises(ValidationError):
        SimulatorConfig.model_validate({"bots": [{"id": "b", "kind": "psychic"}]})
    with pytest.raises(ValidationError):
        SimulatorConfig.model_validate({"faults": [{"kind": "latency", "delay_ms": 1, "typo": 1}]})
    only = SimulatorConfig.model_validate({"include_default_bots": False, "bots": [{"id": "mine"}]})
    assert [b.id for b in only.all_bots()] == ["mine"]


def test_sim_command_help() -> None:
    app = typer.Typer()
    app.command()(sim_command)
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for option in ("--port", "--host", "--scenario"):
        assert option in result.output


def test_sim_command_serves_a_scenario(scenario_file: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = "import typer; from cozegate.cli.sim import sim; typer.run(sim)"
    log = (tmp_path / "sim.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--port", str(port), "--scenario", str(scenario_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/sim/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "sim.log").read_text()
            assert time.monotonic() < deadline, "the simulator did not come up"
            time.sleep(0.05)
        coze = Coze(auth=TokenAuth("pat-local-1"), base_url=url)
        assert coze.users.me().user_name == "sim-user"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
