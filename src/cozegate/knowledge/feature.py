"""Knowledge in a running gateway: the sources' sync (on start, polled, and on ``knowledge_sync``
events), the index behind ``/v1/knowledge`` and ``/retrieval``, and the augmenter that puts a tenant's
passages in front of its users' messages (``knowledge.augment``). Provides ``KnowledgeService`` and
``KnowledgeAugmenter``."""

from __future__ import annotations

from cozegate.kernel.feature import BackgroundTask, Feature
from cozegate.kernel.kernel import Kernel
from cozegate.knowledge.augment import KnowledgeAugmenter
from cozegate.knowledge.events import KNOWLEDGE_SYNC_EVENT, knowledge_sync_handler
from cozegate.knowledge.service import KnowledgeService


def knowledge_feature(kernel: Kernel) -> Feature:
    service = KnowledgeService(kernel.settings, kernel.db, kernel.tenants, kernel.coze_for)
    kernel.parts.provide(service, KnowledgeAugmenter(service, kernel.tenants))
    exclusive = kernel.db.is_sqlite  # embedded: one process, so no other replica shares the sources

    async def start() -> None:
        await service.start(exclusive=exclusive)

    return Feature(
        "knowledge",
        handlers={KNOWLEDGE_SYNC_EVENT: knowledge_sync_handler(service)},
        tasks=[BackgroundTask("knowledge-sync-poller", service.poll)],
        start=start,
        stop=service.aclose,
    )
