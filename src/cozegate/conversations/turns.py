"""What every way of talking to a tenant's bot shares (the webhook pipeline and the chat proxy): which
bot answers this user, which Coze conversation carries this external conversation, and what of the
user's text may leave for Coze."""

from __future__ import annotations

from cozegate.compliance.pii import MaskMode, PiiMasker
from cozegate.conversations.store import ConversationStore
from cozegate.coze import CozeClient
from cozegate.rollout import Exposures, assign
from cozegate.tenants.registry import TenantBot


def bot_for(tenant: TenantBot, user_id: str, exposures: Exposures) -> str:
    """The tenant's bot, or the user's variant of its rollout (sticky: same user, same variant)."""
    if tenant.rollout is None:
        if tenant.bot_id is None:
            raise LookupError(f"tenant {tenant.name} has no bot_id (or rollout) configured")
        return tenant.bot_id
    variant = assign(tenant.rollout, user_id)
    exposures.count(tenant.name, tenant.rollout.experiment, variant.name)
    return variant.bot_id


async def coze_conversation_for(
    store: ConversationStore, coze: CozeClient, tenant: str, external_id: str, bot_id: str, user_id: str | None
) -> str:
    """The Coze conversation of an external one, created (once, even under races) on first use."""
    known = await store.coze_conversation(tenant, external_id)
    if known is not None:
        return known
    created = await coze.create_conversation(bot_id=bot_id)
    return await store.remember_conversation(tenant, external_id, created.id, bot_id, user_id)


def outbound_text(text: str, mask_mode: str | None) -> str:
    """The user's text as it may leave for Coze under the tenant's policy."""
    return PiiMasker(mode=MaskMode(mask_mode)).mask(text) if mask_mode else text
