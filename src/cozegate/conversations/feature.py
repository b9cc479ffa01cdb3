"""Conversations in a running gateway: the recipe for talking to a tenant's bot (``BotConversations``),
the built-in ``message_create`` pipeline and the delivery of its replies, the conversation store, the
versioned contexts, and what handlers may ask for (``HandlerKit``). Provides ``BotConversations``,
``ConversationStore``, ``ContextStore`` and ``HandlerKit``."""

from __future__ import annotations

from cozegate.conversations.bot_conversation import BotConversations
from cozegate.conversations.context import ContextStore
from cozegate.conversations.context.cache import build_context_cache
from cozegate.conversations.handler_kit import HandlerKit
from cozegate.conversations.pipeline import MessagePipeline
from cozegate.conversations.replies import REPLY_EVENT, ReplyDelivery
from cozegate.conversations.store import ConversationStore
from cozegate.health.routing import HealthRouting
from cozegate.kernel.feature import Feature
from cozegate.kernel.kernel import Kernel
from cozegate.knowledge.augment import KnowledgeAugmenter
from cozegate.lifecycle import LifecycleManager

MESSAGE_EVENT = "message_create"


def conversations_feature(kernel: Kernel) -> Feature:
    store = ConversationStore(kernel.db)
    contexts = ContextStore(kernel.db, build_context_cache(kernel.settings, kernel.redis))
    talk = BotConversations(
        store,
        kernel.coze,
        kernel.tenants,
        kernel.exposures,
        kernel.parts.get(HealthRouting),
        augment=kernel.parts.find(KnowledgeAugmenter),
        tools=kernel.tools,
        chat_timeout=kernel.settings.coze_chat_timeout_seconds,
        live=kernel.parts.get(LifecycleManager).live,
    )
    kernel.parts.provide(talk, store, contexts, HandlerKit(kernel.inbox, kernel.tenants, kernel.coze, contexts))
    pipeline = MessagePipeline(talk, store, kernel.tenants, kernel.inbox)
    delivery = ReplyDelivery(store, kernel.tenants, kernel.http)
    return Feature(
        "conversations",
        handlers={MESSAGE_EVENT: pipeline.handle_message, REPLY_EVENT: delivery.handle_reply},
    )
