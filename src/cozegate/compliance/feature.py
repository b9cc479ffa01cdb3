"""Compliance in a running gateway: subject rights (export and erasure, the user's Coze conversations
deleted with the tenant's account) and retention (each tenant's ``retention_days``, enforced every
interval). The audit log itself is the kernel's. Provides ``SubjectRights`` and ``RetentionSchedule``."""

from __future__ import annotations

from cozegate.compliance.retention import RetentionSchedule
from cozegate.compliance.subject_rights import SubjectRights
from cozegate.conversations.context import ContextStore
from cozegate.kernel.feature import BackgroundTask, Feature
from cozegate.kernel.kernel import Kernel


def compliance_feature(kernel: Kernel) -> Feature:
    settings = kernel.settings
    contexts = kernel.parts.get(ContextStore)
    pseudonym_key = settings.resolved_pseudonym_key(create=True)

    async def delete_at_coze(tenant: str, conversation_id: str) -> None:
        await kernel.coze_for(tenant).delete_conversation(conversation_id)

    rights = SubjectRights(
        kernel.db,
        contexts,
        kernel.audit,
        pseudonym_key.get_secret_value().encode() if pseudonym_key else None,
        delete_coze_conversation=delete_at_coze,
    )
    retention = RetentionSchedule(kernel.db, contexts, kernel.tenants, settings.retention_purge_interval_seconds)
    kernel.parts.provide(rights, retention)
    return Feature("compliance", tasks=[BackgroundTask("retention", retention.enforce)])
