"""A managed bot as stored: its state, what runs now (a ``Release``) and what a rollback returns to."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from cozegate.lifecycle.states import BotState, Trigger

API_CONNECTOR = "1024"  # Coze's API channel


class Recovery(StrEnum):
    """What the health prober does when the bot keeps failing its probes."""

    REPUBLISH = "republish"  # publish the running version again
    ROLLBACK = "rollback"  # send the bot's traffic to its last stable version
    CIRCUIT_BREAK = "circuit_break"  # answer users with the fallback reply until probes pass


DEFAULT_FALLBACK = "Sorry, the assistant is temporarily unavailable. Please try again in a few minutes."


@dataclass(frozen=True)
class Release:
    """One deployable version: our label, the Coze bot that serves it, its channels, its worker count."""

    version: str
    coze_bot_id: str
    connectors: tuple[str, ...] = (API_CONNECTOR,)
    replicas: int = 1

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "connectors": list(self.connectors)})

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "connectors": list(self.connectors)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Release:
        return cls(data["version"], data["coze_bot_id"], tuple(data["connectors"]), int(data["replicas"]))

    @classmethod
    def from_json(cls, raw: str | None) -> Release | None:
        return cls.from_dict(json.loads(raw)) if raw else None

    def same_as(self, other: Release | None) -> bool:
        """The same version of the same Coze bot on the same channels (replica counts aside)."""
        return other is not None and (self.version, self.coze_bot_id, tuple(self.connectors)) == (
            other.version,
            other.coze_bot_id,
            tuple(other.connectors),
        )


def releases_to_json(releases: tuple[Release, ...]) -> str:
    return json.dumps([r.to_dict() for r in releases])


def releases_from_json(raw: str | None) -> tuple[Release, ...]:
    return tuple(Release.from_dict(item) for item in json.loads(raw)) if raw else ()


STABLE_KEPT = 5  # stable releases remembered (most recent last)


@dataclass(frozen=True)
class BotRecord:
    name: str
    tenant: str
    state: BotState
    release: Release | None  # what runs (or is being deployed)
    replicas: int
    previous: Release | None  # what a rollback of the transitional state returns to
    stable: tuple[Release, ...]  # releases that passed their health probes, most recent last
    published: tuple[Release, ...]  # what this bot has live on Coze channels (terminate withdraws all)
    recovery: Recovery
    fallback_reply: str
    deadline_at: float | None
    revision: int
    created_at: float
    updated_at: float

    @property
    def version(self) -> str | None:
        return self.release.version if self.release else None

    @property
    def coze_bot_id(self) -> str | None:
        return self.release.coze_bot_id if self.release else None

    def moved(self, **changes: Any) -> BotRecord:
        return replace(self, **changes)

    def rollback_target(self) -> Release | None:
        """The most recent stable release served by another Coze bot than the current release."""
        current = self.coze_bot_id
        return next((r for r in reversed(self.stable) if r.coze_bot_id != current), None)

    def to_json(self) -> dict[str, Any]:
        def release(r: Release | None) -> dict[str, Any] | None:
            return None if r is None else r.to_dict()

        return {
            "name": self.name,
            "tenant": self.tenant,
            "state": self.state.value,
            "version": self.version,
            "coze_bot_id": self.coze_bot_id,
            "connectors": list(self.release.connectors) if self.release else [],
            "replicas": self.replicas,
            "previous": release(self.previous),
            "stable": [r.to_dict() for r in self.stable],
            "published": [r.to_dict() for r in self.published],
            "recovery": self.recovery.value,
            "fallback_reply": self.fallback_reply,
            "deadline_at": self.deadline_at,
            "revision": self.revision,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class Transition:
    """One move of one bot, as hooks receive it and the history keeps it."""

    bot: str
    from_state: BotState
    to_state: BotState
    trigger: Trigger
    actor: str
    at: float
    version: str | None
    replicas: int
    detail: str | None = None
    record: BotRecord | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "bot": self.bot,
            "from": self.from_state.value,
            "to": self.to_state.value,
            "trigger": self.trigger.value,
            "actor": self.actor,
            "at": self.at,
            "version": self.version,
            "replicas": self.replicas,
            "detail": self.detail,
        }
