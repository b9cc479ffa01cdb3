"""Retrieval API keys (``knowledge.api_keys``): each names exactly one tenant, is long enough to resist
guessing, and stops working once expired; a bad configuration is refused without printing a key."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cozegate.tenants import TenantRegistry, new_standard_secret

ACME_KEY = "acme-retrieval-key-0123456789"
ACME_NEXT = "acme-retrieval-key-next-98765"
OTHER_KEY = "other-retrieval-key-abcdefghij"
TOO_SHORT = "tenant acme: knowledge.api_keys: a key must have at least 16 characters"


def tenant(*keys: str | dict[str, Any]) -> dict[str, Any]:
    api_keys = [{"value": key} if isinstance(key, str) else key for key in keys]
    return {"secrets": [{"value": new_standard_secret()}], "knowledge": {"api_keys": api_keys}}


def registry(**tenants: dict[str, Any]) -> TenantRegistry:
    return TenantRegistry.from_document({"tenants": tenants})


@pytest.mark.parametrize("key", ["", "short", "x" * 15])
def test_a_key_shorter_than_16_characters_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match=re.escape(TOO_SHORT)):
        registry(acme=tenant(ACME_KEY, key), other=tenant(OTHER_KEY))


def test_a_16_character_key_is_accepted() -> None:
    key = "k" * 16
    assert registry(acme=tenant(key)).tenant_of_knowledge_key(key, datetime.now(UTC)) == "acme"


def test_a_short_key_from_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_KNOWLEDGE_KEY", "too-short")
    with pytest.raises(ValueError, match=re.escape(TOO_SHORT)) as raised:
        registry(acme=tenant({"env": "ACME_KNOWLEDGE_KEY"}))
    assert "too-short" not in str(raised.value)


def test_one_key_for_two_tenants_is_refused_naming_both_but_not_the_key() -> None:
    with pytest.raises(ValueError, match="same key") as raised:
        registry(acme=tenant(ACME_KEY), other=tenant(OTHER_KEY, ACME_KEY))
    message = str(raised.value)
    assert "acme" in message
    assert "other" in message
    assert "knowledge.api_keys" in message
    assert ACME_KEY not in message
    assert ACME_KEY[:16] not in message


def test_the_same_key_twice_for_one_tenant_is_not_a_conflict() -> None:
    assert registry(acme=tenant(ACME_KEY, ACME_KEY)).tenant_of_knowledge_key(ACME_KEY, datetime.now(UTC)) == "acme"


def test_each_key_finds_its_tenant_and_unknown_or_expired_keys_find_none() -> None:
    now = datetime.now(UTC)
    expired = {"value": ACME_NEXT, "expires_at": (now - timedelta(minutes=1)).isoformat()}
    tenants = registry(acme=tenant(ACME_KEY, expired), other=tenant(OTHER_KEY), plain={"secrets": tenant()["secrets"]})
    assert tenants.tenant_of_knowledge_key(ACME_KEY, now) == "acme"
    assert tenants.tenant_of_knowledge_key(OTHER_KEY, now) == "other"
    assert tenants.tenant_of_knowledge_key("unknown-retrieval-key-000000", now) is None
    assert tenants.tenant_of_knowledge_key(ACME_KEY[:-1], now) is None
    assert tenants.tenant_of_knowledge_key("", now) is None
    assert tenants.tenant_of_knowledge_key(ACME_NEXT, now) is None  # expired a minute ago
    assert tenants.tenant_of_knowledge_key(ACME_NEXT, now - timedelta(minutes=2)) == "acme"  # before it expired
