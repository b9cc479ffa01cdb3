"""A CozeBot body read into typed values, with the CRD's checks repeated.

The API server already validates against the CRD schema, but a CozeBot written before a schema change,
or a CEL rule an older cluster cannot evaluate, could still reach the operator. Checking again here
turns such an object into a clear ``InvalidSpec`` condition instead of a half-built set of children.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cozegate.operator.crd import (
    API_VERSION,
    BOT_NAME_PATTERN,
    KIND,
    LABEL_VALUE_PATTERN,
    MAX_REPLICAS,
    QUANTITY_PATTERN,
    TENANT_PATTERN,
)
from cozegate.rollout.model import Rollout

Quantity = int | str


class InvalidSpec(ValueError):
    """The CozeBot cannot be turned into workers as written; the message names the field."""


class _Model(BaseModel):
    # Unknown fields are ignored: the API server prunes them, and a newer CRD must not break an older operator.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Compute(_Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: Quantity | None) -> Quantity | None:
        if isinstance(value, str) and not re.fullmatch(QUANTITY_PATTERN, value):
            raise ValueError(f"{value!r} is not a Kubernetes quantity")
        if isinstance(value, int) and value < 0:
            raise ValueError("a quantity must not be negative")
        return value

    def as_dict(self) -> dict[str, Quantity]:
        return {k: v for k, v in (("cpu", self.cpu), ("memory", self.memory)) if v is not None}


class Resources(_Model):
    requests: Compute = Field(default_factory=Compute)
    limits: Compute = Field(default_factory=Compute)


class Autoscaling(_Model):
    min_replicas: int = Field(1, alias="minReplicas", ge=1, le=MAX_REPLICAS)
    max_replicas: int = Field(alias="maxReplicas", ge=1, le=MAX_REPLICAS)
    target_cpu_percent: int = Field(70, alias="targetCPUUtilizationPercentage", ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must not exceed maxReplicas")
        return self


class BotSpec(_Model):
    bot_id: str = Field(alias="botId", min_length=1, max_length=128)
    tenant: str = Field(pattern=TENANT_PATTERN)
    env: Literal["dev", "staging", "prod"] = "prod"
    version: str = Field(min_length=1, max_length=63, pattern=LABEL_VALUE_PATTERN)
    replicas: int = Field(1, ge=0, le=MAX_REPLICAS)
    paused: bool = False
    rollout: Rollout | None = None
    resources: Resources = Field(default_factory=Resources)
    autoscaling: Autoscaling | None = None

    @field_validator("rollout", mode="before")
    @classmethod
    def _rollout_from_crd(cls, value: Any) -> Any:
        """The CRD spells the variant fields as Kubernetes does (botId, weightBps); the rollout model in Python."""
        if not isinstance(value, Mapping):
            return value
        variants = value.get("variants")
        if not isinstance(variants, list):
            return value
        renamed = [
            {"name": v.get("name"), "bot_id": v.get("botId"), "weight_bps": v.get("weightBps")}
            if isinstance(v, Mapping)
            else v
            for v in variants
        ]
        return {"experiment": value.get("experiment"), "variants": renamed}


@dataclass(frozen=True)
class CozeBot:
    """The parts of a CozeBot object the operator works from."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: BotSpec


def _describe(error: ValidationError) -> str:
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in ("spec", *e["loc"]))
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


def parse_cozebot(body: Mapping[str, Any]) -> CozeBot:
    """Read a CozeBot object; raise ``InvalidSpec`` naming every field that is wrong."""
    if body.get("apiVersion") != API_VERSION or body.get("kind") != KIND:
        raise InvalidSpec(f"not a {KIND} of {API_VERSION}: {body.get('apiVersion')}/{body.get('kind')}")
    meta = body.get("metadata") or {}
    name, namespace, uid = str(meta.get("name", "")), str(meta.get("namespace", "")), str(meta.get("uid", ""))
    if not re.fullmatch(BOT_NAME_PATTERN, name):
        raise InvalidSpec(f"metadata.name {name!r} must be a DNS-1035 label (it names the bot's Service)")
    if not namespace or not uid:
        raise InvalidSpec("metadata.namespace and metadata.uid are required (a stored object has both)")
    try:
        spec = BotSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        raise InvalidSpec(_describe(exc)) from None
    return CozeBot(name=name, namespace=namespace, uid=uid, generation=int(meta.get("generation") or 0), spec=spec)
