"""Tenants known to this process, loaded from the tenants YAML file, with keys ready for the hot path."""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from cozegate.rollout.model import Rollout
from cozegate.tenants.model import (
    ChatLimits,
    DedupKeySource,
    IngressLimits,
    KnowledgeConfig,
    SecretRef,
    TenantConfig,
    TenantsFile,
    decode_standard_secret,
)
from cozegate.tenants.names import DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class SigningKey:
    key: bytes
    expires_at: float | None  # Unix seconds


@dataclass(frozen=True, slots=True)
class TenantIngress:
    """What ingress needs of one tenant, precomputed."""

    name: str
    scheme: str
    keys: tuple[SigningKey, ...]
    dedup: DedupKeySource
    timestamp_header: str | None
    limits: IngressLimits | None = None

    def active_keys(self, now: float) -> list[bytes]:
        return [k.key for k in self.keys if k.expires_at is None or k.expires_at > now]


@dataclass(frozen=True, slots=True)
class TenantBot:
    """What the message pipeline needs of one tenant."""

    name: str
    bot_id: str | None
    reply_url: str | None
    reply_key: bytes | None
    mask_pii_to_coze: str | None = None
    rollout: Rollout | None = None
    coze_token: str | None = field(default=None, repr=False)  # resolved; never printed
    coze_base_url: str | None = None
    chat_limits: ChatLimits | None = None
    fallback_reply: str | None = None
    managed_bot: str | None = None


def _bot(name: str, config: TenantConfig) -> TenantBot:
    reply_key = None
    if config.reply_secret is not None:
        reply_key = decode_standard_secret(config.reply_secret.resolve())
    elif config.signature_scheme == "standard":
        reply_key = decode_standard_secret(config.secrets[0].resolve())
    if config.reply_url is not None and reply_key is None:
        raise ValueError(f"tenant {name}: a reply_url needs a reply_secret (whsec_...) to sign replies")
    reply_url = str(config.reply_url) if config.reply_url else None
    coze = config.coze
    return TenantBot(
        name,
        config.bot_id,
        reply_url,
        reply_key,
        config.mask_pii_to_coze,
        config.rollout,
        coze_token=coze.token.resolve() if coze is not None else None,
        coze_base_url=str(coze.base_url).rstrip("/") if coze is not None and coze.base_url else None,
        chat_limits=config.chat_limits,
        fallback_reply=config.fallback_reply,
        managed_bot=config.managed_bot,
    )


def _ingress(name: str, config: TenantConfig) -> TenantIngress:
    keys = []
    for ref in config.secrets:
        raw = ref.resolve()
        key = decode_standard_secret(raw) if config.signature_scheme == "standard" else raw.encode()
        if not key:
            raise ValueError(f"tenant {name}: empty secret")
        expires = ref.expires_at.astimezone(UTC).timestamp() if ref.expires_at else None
        keys.append(SigningKey(key, expires))
    return TenantIngress(
        name, config.signature_scheme, tuple(keys), config.dedup_key, config.timestamp_header, config.ingress_limits
    )


MIN_KNOWLEDGE_KEY_LENGTH = 16


def _knowledge_keys(tenants: Mapping[str, TenantConfig]) -> list[tuple[str, bytes, SecretRef]]:
    """Every tenant's retrieval API keys, resolved: each long enough, and none shared by two tenants (a key
    must name one tenant). Messages name tenants, never keys."""
    keys: list[tuple[str, bytes, SecretRef]] = []
    owner: dict[bytes, str] = {}
    for name, config in sorted(tenants.items()):
        if config.knowledge is None:
            continue
        for ref in config.knowledge.api_keys:
            resolved = ref.resolve()
            if len(resolved) < MIN_KNOWLEDGE_KEY_LENGTH:
                raise ValueError(
                    f"tenant {name}: knowledge.api_keys: a key must have at least {MIN_KNOWLEDGE_KEY_LENGTH} characters"
                )
            key = resolved.encode()
            other = owner.setdefault(key, name)
            if other != name:
                raise ValueError(
                    f"tenants {other} and {name}: knowledge.api_keys: the same key is configured for both "
                    "(each tenant needs its own keys)"
                )
            keys.append((name, key, ref))
    return keys


class TenantRegistry:
    """Immutable view of the configured tenants; replaced whole on reload."""

    def __init__(self, tenants: Mapping[str, TenantConfig]) -> None:
        self._configs = dict(tenants)
        claimed: dict[str, str] = {}
        for name, config in sorted(self._configs.items()):
            for workspace in config.workspace_ids:
                if workspace in claimed:
                    raise ValueError(f"workspace {workspace} is listed by tenants {claimed[workspace]} and {name}")
                claimed[workspace] = name
        self._ingress = {name: _ingress(name, cfg) for name, cfg in tenants.items()}
        self._bots = {name: _bot(name, cfg) for name, cfg in tenants.items()}
        self._knowledge_keys = _knowledge_keys(tenants)

    def ingress(self, name: str) -> TenantIngress | None:
        return self._ingress.get(name)

    def bot(self, name: str) -> TenantBot | None:
        return self._bots.get(name)

    def names(self) -> list[str]:
        return sorted(self._configs)

    def tenant_of_workspace(self, workspace: str) -> str | None:
        return next((name for name, c in sorted(self._configs.items()) if workspace in c.workspace_ids), None)

    def rollouts(self) -> dict[str, Rollout]:
        return {name: c.rollout for name, c in self._configs.items() if c.rollout is not None}

    def knowledge(self, name: str) -> KnowledgeConfig | None:
        config = self._configs.get(name)
        return config.knowledge if config is not None else None

    def knowledge_tenants(self) -> dict[str, KnowledgeConfig]:
        """Tenants with knowledge configured, and their configuration."""
        return {name: c.knowledge for name, c in sorted(self._configs.items()) if c.knowledge is not None}

    def tenant_of_knowledge_key(self, presented: str, now: datetime) -> str | None:
        """The tenant whose retrieval API key this is (every key is compared, in constant time each)."""
        found = None
        candidate = presented.encode()
        for name, key, ref in self._knowledge_keys:
            if hmac.compare_digest(candidate, key) and ref.active(now):
                found = name
        return found

    def retention_days(self) -> dict[str, int]:
        """Tenants with a retention limit, and the limit."""
        return {name: c.retention_days for name, c in self._configs.items() if c.retention_days is not None}

    @classmethod
    def from_document(cls, document: Any) -> TenantRegistry:
        """Check a tenants document (as parsed from YAML or JSON); raises on any problem."""
        return cls(TenantsFile.model_validate(document or {}).tenants)

    @classmethod
    def from_text(cls, text: str) -> TenantRegistry:
        """Parse and check a tenants YAML document (raises on any problem; nothing is half-built)."""
        return cls.from_document(yaml.safe_load(text))

    @classmethod
    def from_file(cls, path: Path) -> TenantRegistry:
        return cls.from_text(path.read_text())


def new_standard_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def ensure_tenants_file(path: Path, *, bot_id: str | None = None) -> bool:
    """Create a tenants file with a ``default`` tenant and a fresh secret if none exists. True if created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "tenants": {
            DEFAULT_TENANT: {
                "signature_scheme": "standard",
                "secrets": [{"value": new_standard_secret()}],
                **({"bot_id": bot_id} if bot_id else {}),
            }
        }
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# cozegate tenants: generated on first start. Keep this file secret.\n")
        yaml.safe_dump(document, fh, sort_keys=False)
    return True
