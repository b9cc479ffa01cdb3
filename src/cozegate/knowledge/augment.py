"""Context augmentation: the tenant's best passages put in front of a user message sent to Coze.

Only for tenants with ``knowledge.augment``. Retrieval failing (index unreachable, no sync yet) never
fails the message: it goes to Coze as written, and a warning is logged.
"""

from __future__ import annotations

import logging

from cozegate.knowledge.passages import Passage, heading
from cozegate.knowledge.service import KnowledgeService
from cozegate.tenants.live import LiveTenants

log = logging.getLogger(__name__)

PREAMBLE = "Reference passages from the knowledge base (use them if they help; say so if they do not answer):"


def render(passages: list[Passage], question: str) -> str:
    blocks = []
    for number, passage in enumerate(passages, start=1):
        blocks.append(f"[{number}] {heading(passage.title, passage.section)}\n{passage.text}")
    return f"{PREAMBLE}\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}"


class KnowledgeAugmenter:
    def __init__(self, service: KnowledgeService, tenants: LiveTenants) -> None:
        self._service = service
        self._tenants = tenants

    async def __call__(self, tenant: str, query: str, outbound: str) -> str:
        """``outbound`` (the text for Coze) with passages found for ``query`` (the user's own words)."""
        config = self._tenants.current.knowledge(tenant)
        if config is None or config.augment is None or not config.sources:
            return outbound
        policy = config.augment
        try:
            passages = await self._service.search(
                tenant, query, top_k=policy.top_k, mode=policy.mode, score_threshold=policy.min_score
            )
        except Exception:
            log.warning("knowledge retrieval failed; the message goes without passages", exc_info=True)
            return outbound
        return render(passages, outbound) if passages else outbound
