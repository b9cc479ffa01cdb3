"""Scripted bot behaviours: pure functions from (bot, user text, tool output) to a reply. No I/O, no state."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from cozegate.coze.simulator.config import BotConfig, PassageConfig

_WORD = re.compile(r"\w+", re.UNICODE)
_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "can",
        "do",
        "does",
        "for",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "the",
        "to",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "you",
        "your",
    ]
)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON object, serialized, as Coze sends it


@dataclass(frozen=True)
class BotReply:
    kind: Literal["answer", "tool_call", "fail"]
    answer: str = ""
    follow_ups: tuple[str, ...] = ()
    tool_call: ToolCall | None = None
    error_code: int = 0
    error_msg: str = ""


@dataclass(frozen=True)
class Passage:
    title: str
    text: str

    @classmethod
    def of(cls, config: PassageConfig) -> Passage:
        return cls(config.title, config.text)


@dataclass(frozen=True)
class BotInput:
    user_text: str
    passages: Sequence[Passage] = field(default_factory=tuple)
    tool_output: str | None = None  # set when the client submitted the tool's result
    tool_call_id: str = ""
    plugin_status: int | None = None  # plugin bots: the HTTP status of the server-side plugin call


def reply(bot: BotConfig, given: BotInput) -> BotReply:
    """What ``bot`` answers to ``given``."""
    follow_ups = tuple(bot.follow_ups)
    if bot.kind == "fail":
        return BotReply("fail", error_code=bot.error_code, error_msg=bot.error_msg)
    if bot.kind == "tool":
        if given.tool_output is None:
            arguments = json.dumps({bot.tool.argument: given.user_text}, ensure_ascii=False)
            return BotReply("tool_call", tool_call=ToolCall(given.tool_call_id, bot.tool.name, arguments))
        answer = bot.tool.answer_template.replace("{output}", given.tool_output)
        return BotReply("answer", answer=answer, follow_ups=follow_ups)
    if bot.kind == "plugin" and bot.plugin is not None:
        return plugin_reply(bot.plugin.answer_template, given.plugin_status, given.tool_output or "", follow_ups)
    if bot.kind == "canned":
        answers = {question.strip().lower(): answer for question, answer in bot.answers.items()}
        answer = answers.get(given.user_text.strip().lower(), bot.default_answer)
        return BotReply("answer", answer=answer, follow_ups=follow_ups)
    if bot.kind == "knowledge":
        best = best_passage(given.user_text, given.passages)
        answer = f"According to {best.title}: {best.text}" if best else bot.no_match_answer
        return BotReply("answer", answer=answer, follow_ups=follow_ups)
    return BotReply("answer", answer=f"echo: {given.user_text}", follow_ups=follow_ups)


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def plugin_reply(template: str, status: int | None, body: str, follow_ups: tuple[str, ...]) -> BotReply:
    """Coze fails the run unless the plugin answered 200; an ``error`` object in the body is explained."""
    if status != 200:
        detail = f"status={status}" if status is not None else body
        return BotReply("fail", error_code=5000, error_msg=f"plugin call failed, {detail}")
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    fields = data if isinstance(data, dict) else {}
    error = fields.get("error")
    if isinstance(error, dict):
        return BotReply("answer", answer=f"Sorry, {error.get('message', 'the plugin reported an error')}")

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "output":
            return body
        return str(fields[key]) if key in fields else match.group(0)

    return BotReply("answer", answer=_PLACEHOLDER.sub(fill, template), follow_ups=follow_ups)


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS}


def best_passage(question: str, passages: Sequence[Passage]) -> Passage | None:
    """The passage sharing the most words with the question (title counts); the first one wins a tie."""
    asked = words(question)
    best: Passage | None = None
    best_score = 0
    for passage in passages:
        score = len(asked & words(f"{passage.title} {passage.text}"))
        if score > best_score:
            best, best_score = passage, score
    return best


def chunks(text: str, words_per_chunk: int) -> list[str]:
    """Split an answer into stream deltas that concatenate back to exactly ``text``."""
    pieces = re.findall(r"\s*\S+\s*", text) or [text]
    return ["".join(pieces[i : i + words_per_chunk]) for i in range(0, len(pieces), words_per_chunk)]
