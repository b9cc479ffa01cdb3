"""The scenario: bots, workflows, accepted tokens and faults, as pydantic models (loaded from YAML or built in code).

With no scenario at all the simulator still has the default bots (``bot-echo``, ``bot-canned``,
``bot-knowledge``, ``bot-tool``, ``bot-fail``) and workflows (``wf-echo``, ``wf-fail``); bots and workflows
a scenario lists are added to them, replacing a default with the same id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator

from cozegate.coze.simulator.faults import FaultSpec

API_CONNECTOR = "1024"
DEFAULT_WORKSPACE = "sim-workspace"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PassageConfig(_Model):
    title: str
    text: str


class ToolConfig(_Model):
    """The client-side function ``bot-tool`` asks for: ``{argument: <user text>}`` as its arguments."""

    name: str = "lookup"
    argument: str = "query"
    answer_template: str = Field(default="Tool result: {output}", description="{output} is the submitted output")


class PluginCallConfig(_Model):
    """A plugin imported into Coze from an HTTP service, which the bot calls server-side (as Coze does).

    The simulator POSTs ``{argument: value}`` as JSON to ``url`` with the service token verbatim in the
    ``key`` header (or query parameter) and Coze's ``X-AIPlugin-*`` headers; ``value`` is the first match
    of ``argument_pattern`` in the user's text (the whole text without a pattern). A 200 answer becomes
    ``answer_template`` with ``{field}`` filled from the response object (``{output}``: the raw body);
    a response carrying ``error`` is answered with its message; any other status fails the chat.
    """

    url: str
    name: str = Field(default="", description="tool name shown in the function_call message (default: URL's last part)")
    argument: str = "query"
    argument_pattern: str | None = None
    location: Literal["header", "query"] = "header"
    key: str = "X-Api-Key"
    service_token: str = ""
    answer_template: str = "{output}"
    timeout_seconds: float = 10.0


class BotConfig(_Model):
    """One scripted bot. ``kind`` picks the behaviour; the other fields tune it."""

    id: str = Field(min_length=1)
    kind: Literal["echo", "canned", "knowledge", "tool", "plugin", "fail"] = "echo"
    name: str = ""
    description: str = ""
    prompt: str = ""
    space_id: str = DEFAULT_WORKSPACE
    published: bool = Field(default=True, description="published to the API connector (1024) at start")
    # canned
    answers: dict[str, str] = Field(default_factory=dict, description="question -> answer (case-insensitive)")
    default_answer: str = "Sorry, I don't have an answer for that."
    # knowledge
    passages: list[PassageConfig] = Field(default_factory=list)
    dataset_ids: list[str] = Field(default_factory=list, description="datasets whose text documents are passages")
    no_match_answer: str = "Sorry, I could not find that in my knowledge base."
    # tool
    tool: ToolConfig = Field(default_factory=ToolConfig)
    # plugin
    plugin: PluginCallConfig | None = None
    # fail
    error_code: int = 5000
    error_msg: str = "The bot failed to answer (simulated internal error)."
    # every kind
    follow_ups: list[str] = Field(default_factory=list, description="follow_up messages after the answer")
    think_ms: NonNegativeInt = Field(default=100, description="non-streaming chat: in_progress for this long")
    delta_ms: NonNegativeInt = Field(default=0, description="streaming chat: pause between answer deltas")
    words_per_delta: PositiveInt = 1

    @model_validator(mode="after")
    def _plugin_bots_name_their_plugin(self) -> BotConfig:
        if self.kind == "plugin" and self.plugin is None:
            raise ValueError(f"bot {self.id}: kind `plugin` needs `plugin: {{url: ...}}`")
        return self


class WorkflowConfig(_Model):
    """One scripted workflow. ``echo``: output = ``template`` with ``${param}`` filled, else the ``input``
    parameter, else the parameters as JSON. ``fail``: the run fails with ``error_code``."""

    id: str = Field(min_length=1)
    kind: Literal["echo", "fail"] = "echo"
    name: str = ""
    template: str | None = None
    error_code: int = 5000
    error_msg: str = "The workflow failed (simulated)."
    words_per_message: PositiveInt = 2


class DocumentConfig(_Model):
    name: str = Field(min_length=1)
    text: str


class DatasetConfig(_Model):
    """A knowledge base (dataset) present from the start, with its text documents (processed)."""

    id: str = Field(min_length=1)
    name: str
    description: str = ""
    space_id: str = DEFAULT_WORKSPACE
    documents: list[DocumentConfig] = Field(default_factory=list)


_Item = TypeVar("_Item", BotConfig, WorkflowConfig, DatasetConfig)


class UserConfig(_Model):
    user_id: str = "7400000000000000042"
    user_name: str = "sim-user"
    nick_name: str = "Simulated User"
    avatar_url: str = "https://example.invalid/avatar.png"


class OAuthConfig(_Model):
    """The JWT OAuth flow: signatures are not verified; claims are."""

    enabled: bool = True
    client_ids: list[str] = Field(default_factory=list, description="accepted `iss`; empty: any")
    check_audience: bool = Field(default=True, description="`aud` must be the Host the request was sent to")


class SimulatorConfig(_Model):
    tokens: list[str] = Field(default_factory=lambda: ["test-token"], description="accepted bearer tokens")
    include_default_bots: bool = True
    bots: list[BotConfig] = Field(default_factory=list)
    include_default_workflows: bool = True
    workflows: list[WorkflowConfig] = Field(default_factory=list)
    include_default_datasets: bool = True
    datasets: list[DatasetConfig] = Field(default_factory=list)
    workspace_id: str = DEFAULT_WORKSPACE
    workspace_name: str = "Simulated workspace"
    user: UserConfig = Field(default_factory=UserConfig)
    oauth: OAuthConfig = Field(default_factory=OAuthConfig)
    faults: list[FaultSpec] = Field(default_factory=list, description="active from the start")
    document_processing_ms: NonNegativeInt = Field(default=0, description="documents report status 0 this long")
    request_log_limit: PositiveInt = 2000

    def all_bots(self) -> list[BotConfig]:
        return _merge(default_bots() if self.include_default_bots else [], self.bots)

    def all_workflows(self) -> list[WorkflowConfig]:
        return _merge(default_workflows() if self.include_default_workflows else [], self.workflows)

    def all_datasets(self) -> list[DatasetConfig]:
        return _merge(default_datasets() if self.include_default_datasets else [], self.datasets)


def _merge(defaults: list[_Item], configured: list[_Item]) -> list[_Item]:
    merged = {item.id: item for item in defaults}
    merged.update({item.id: item for item in configured})
    return list(merged.values())


DEFAULT_DATASET = "7300000000000000001"  # below the ids the simulator hands out


def default_datasets() -> list[DatasetConfig]:
    return [
        DatasetConfig(
            id=DEFAULT_DATASET,
            name="Handbook",
            description="A small knowledge base present from the start.",
            documents=[
                DocumentConfig(
                    name="opening-hours.md",
                    text="# Opening hours\n\nThe office is open from 9:00 to 17:00, Monday to Friday.",
                ),
                DocumentConfig(
                    name="refunds.md",
                    text="# Refunds\n\nA refund for a shipped order is paid back within 14 days of its return.",
                ),
            ],
        )
    ]


def default_bots() -> list[BotConfig]:
    return [
        BotConfig(id="bot-echo", kind="echo", name="Echo", description="Answers `echo: <your text>`."),
        BotConfig(
            id="bot-canned",
            kind="canned",
            name="Canned",
            description="Answers known questions from a fixed table.",
            answers={
                "hello": "Hello! How can I help you today?",
                "what are your opening hours?": "We are open from 9:00 to 17:00, Monday to Friday.",
                "how do i reset my password?": "Open Settings, choose Security, then Reset password.",
            },
            follow_ups=["What else can you do?"],
        ),
        BotConfig(
            id="bot-knowledge",
            kind="knowledge",
            name="Knowledge",
            description="Cites the passage that best matches the question.",
            passages=[
                PassageConfig(title="Refund policy", text="Refunds are issued within 14 days of purchase."),
                PassageConfig(title="Shipping", text="Orders ship within 2 business days; delivery takes 3 to 5."),
                PassageConfig(title="Warranty", text="Every device has a two-year warranty covering defects."),
            ],
        ),
        BotConfig(
            id="bot-tool",
            kind="tool",
            name="Tool",
            description="Asks the client to run `lookup` with the user's text, then reports its output.",
        ),
        BotConfig(id="bot-fail", kind="fail", name="Fail", description="Every chat fails with code 5000."),
    ]


def default_workflows() -> list[WorkflowConfig]:
    return [
        WorkflowConfig(id="wf-echo", kind="echo", name="Echo workflow"),
        WorkflowConfig(id="wf-fail", kind="fail", name="Failing workflow"),
    ]


def load_simulator_config(path: str | Path) -> SimulatorConfig:
    """Read a scenario YAML file (an empty file is the default scenario)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return SimulatorConfig.model_validate(data)
