"""Typed tenant configuration (the ingress part; the configuration center grows it)."""

from __future__ import annotations

import base64
import binascii
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, field_validator, model_validator

from cozegate.rollout.model import Rollout

TENANT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class SecretRef(BaseModel):
    """A secret given inline, or by reference to an environment variable or a file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: SecretStr | None = None
    env: str | None = None
    file: Path | None = None
    expires_at: datetime | None = Field(None, description="After this instant the secret no longer verifies.")

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SecretRef:
        if sum(x is not None for x in (self.value, self.env, self.file)) != 1:
            raise ValueError("a secret needs exactly one of `value`, `env`, `file`")
        return self

    def resolve(self) -> str:
        if self.value is not None:
            return self.value.get_secret_value()
        if self.env is not None:
            resolved = os.environ.get(self.env)
            if not resolved:
                raise ValueError(f"environment variable {self.env} (a secret of the tenants file) is not set")
            return resolved
        assert self.file is not None
        return self.file.read_text().strip()

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at.astimezone(UTC) > now


TENANT_SECRET_ENV_PREFIX = "COZEGATE_TENANT_"  # noqa: S105 - a name prefix, not a secret


class CozeAccess(BaseModel):
    """The tenant's own Coze account. Prefer ``env`` or ``file`` references: values never appear in logs
    or API output either way."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretRef = Field(
        description="Personal access (or service) token of the tenant's Coze account: a value, or an environment "
        "variable named COZEGATE_TENANT_* (no files, and no other variable: the configuration must not be able to "
        "send the process's own secrets to Coze)."
    )
    base_url: HttpUrl | None = Field(
        None, description="`https://api.coze.cn` for coze.cn; unset: the process's. Only Coze's hosts are used."
    )

    @model_validator(mode="after")
    def _only_tenant_secrets(self) -> CozeAccess:
        if self.token.file is not None:
            raise ValueError("coze.token: give a value or env (COZEGATE_TENANT_...), not a file")
        if self.token.env is not None and not self.token.env.startswith(TENANT_SECRET_ENV_PREFIX):
            raise ValueError(f"coze.token.env must start with {TENANT_SECRET_ENV_PREFIX}")
        return self


class ChatLimits(BaseModel):
    """The chat proxy's token buckets for this tenant (unset values: the process settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_rate: float | None = Field(None, gt=0)
    tenant_burst: float | None = Field(None, ge=1)
    user_rate: float | None = Field(None, gt=0)
    user_burst: float | None = Field(None, ge=1)


class IngressLimits(BaseModel):
    """How many verified webhook events per second this tenant may send (unset values: the process settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float | None = Field(None, gt=0)
    burst: float | None = Field(None, ge=1)


class DedupKeySource(BaseModel):
    """Where the idempotency key of an event comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["body", "header"] = "body"
    path: str = Field("event_id", description="Dotted path in the JSON body, for source=body.")
    header: str = Field("webhook-id", description="Header name, for source=header.")

    @field_validator("header")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


SOURCE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class CozeKnowledgeSource(BaseModel):
    """A Coze knowledge base (dataset), read through the Coze OpenAPI with the tenant's account.

    The OpenAPI lists documents (name, size, update time) and tells web pages' URLs, but it does not hand
    out the text of uploaded files: their content is read from ``origin_dir`` (the folder they were
    uploaded from), by document name. Without it uploaded files are skipped (and counted as such)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["coze"]
    name: str = Field(pattern=SOURCE_NAME_PATTERN, description="Unique within the tenant (the Dify knowledge_id).")
    dataset_id: str = Field(min_length=1, description="The Coze knowledge base id.")
    origin_dir: Path | None = Field(None, description="Where the uploaded files' content is read, by name.")


class FolderKnowledgeSource(BaseModel):
    """Markdown, text, HTML and PDF files under a local folder (recursively)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["folder"]
    name: str = Field(pattern=SOURCE_NAME_PATTERN, description="Unique within the tenant (the Dify knowledge_id).")
    path: Path


class UrlsKnowledgeSource(BaseModel):
    """Web pages (HTML, Markdown, text or PDF by content type), fetched on every sync."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["urls"]
    name: str = Field(pattern=SOURCE_NAME_PATTERN, description="Unique within the tenant (the Dify knowledge_id).")
    urls: list[HttpUrl] = Field(min_length=1)


KnowledgeSource = Annotated[
    CozeKnowledgeSource | FolderKnowledgeSource | UrlsKnowledgeSource, Field(discriminator="kind")
]


class KnowledgeAugment(BaseModel):
    """Put the best passages of the tenant's knowledge in front of each user message sent to Coze."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_k: int = Field(3, ge=1, le=20)
    mode: Literal["auto", "hybrid", "dense", "keyword"] = Field(
        "auto", description="auto: hybrid with a semantic embedder (minilm), keyword alone with hashing."
    )
    min_score: float = Field(0.0, ge=0, le=1, description="Passages scoring below this are left out.")


class KnowledgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[KnowledgeSource] = Field(default_factory=list)
    augment: KnowledgeAugment | None = Field(None, description="Unset: messages go to Coze without passages.")
    api_keys: list[SecretRef] = Field(
        default_factory=list,
        max_length=2,
        description="Bearer keys of the Dify-compatible `POST /retrieval` (two during rotation).",
    )

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[KnowledgeSource]) -> list[KnowledgeSource]:
        names = [source.name for source in sources]
        if len(set(names)) != len(names):
            raise ValueError("knowledge source names must be unique within a tenant")
        return sources


class TenantConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    signature_scheme: Literal["standard", "hub"] = Field(
        "standard", description="`standard`: Standard Webhooks; `hub`: X-Hub-Signature-256 (GitHub style)."
    )
    secrets: list[SecretRef] = Field(min_length=1, max_length=2, description="Signing secrets; two during rotation.")
    dedup_key: DedupKeySource = Field(default_factory=DedupKeySource)
    timestamp_header: str | None = Field(
        None,
        description="Hub scheme: header carrying the send time (Unix seconds) checked against the replay window.",
    )
    bot_id: str | None = Field(
        None,
        description="Coze bot that answers this tenant's messages, unless a managed bot of the tenant is live "
        "(`cozegate bots deploy`): then its release's Coze bot answers.",
    )
    managed_bot: str | None = Field(
        None,
        description="The managed bot (lifecycle) whose live release answers, when the tenant has several. "
        "While it is not running, messages wait (retried) rather than go to another bot.",
    )
    fallback_reply: str | None = Field(
        None,
        min_length=1,
        max_length=4000,
        description="What a user reads when Coze fails their chat (failed, cancelled, or past its deadline and "
        "cancelled). Unset: the event is dead-lettered with Coze's code and log id, for an operator to replay.",
    )
    reply_url: HttpUrl | None = Field(None, description="Where bot replies are POSTed (signed, Standard Webhooks).")
    reply_secret: SecretRef | None = Field(
        None, description="`whsec_` secret that signs replies. Unset: the first webhook secret (standard scheme)."
    )
    coze: CozeAccess | None = Field(None, description="The tenant's own Coze account; unset: the process's.")
    chat_limits: ChatLimits | None = Field(None, description="Chat proxy rate limits of this tenant.")
    ingress_limits: IngressLimits | None = Field(
        None, description="Webhook events per second this tenant may send; over it, 429 with Retry-After."
    )
    workspace_ids: list[str] = Field(
        default_factory=list, description="Coze workspaces of this tenant: a JWT's `workspace_id` claim maps here."
    )
    rollout: Rollout | None = Field(
        None, description="Route the tenant's users between bot versions (gray release, A/B); replaces bot_id."
    )
    retention_days: int | None = Field(
        None,
        gt=0,
        description="Transcripts, replies, contexts and inbox payloads older than this are deleted (dead letters "
        "blanked). Unset: kept until erased.",
    )
    mask_pii_to_coze: Literal["partial", "full", "hash"] | None = Field(
        None,
        description="Mask personal data in user messages before they are sent to Coze (the transcript keeps the "
        "original). Unset: messages go as written.",
    )
    knowledge: KnowledgeConfig | None = Field(
        None, description="Knowledge sources synced into the vector index, augmentation, retrieval API keys."
    )

    @field_validator("timestamp_header")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else None


class TenantsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenants: dict[str, TenantConfig]

    @field_validator("tenants")
    @classmethod
    def _names(cls, tenants: dict[str, TenantConfig]) -> dict[str, TenantConfig]:
        import re

        for name in tenants:
            if not re.match(TENANT_NAME_PATTERN, name):
                raise ValueError(f"tenant name {name!r} must match {TENANT_NAME_PATTERN}")
        return tenants


def decode_standard_secret(secret: str) -> bytes:
    """Key bytes of a Standard Webhooks secret (``whsec_`` + base64)."""
    raw = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("a standard-webhooks secret must be `whsec_` followed by base64") from exc
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key
