"""What a handler can ask for, by parameter name or type, beside the ``event``:

=================  =====================================================================================
``say``            ``await say("text")``: a reply to the event's sender through the outbox (durable,
                   retried with backoff, signed with Standard Webhooks, dead-lettered like any event);
                   the n-th call's webhook-id is ``say:<n>:<event key>``, the same if the event is
                   handled again, so a retried handler does not reply twice
``coze``           the ``CozeClient`` of the tenant's Coze account
``contexts``       the ``ContextStore`` (versioned conversation contexts and user profiles)
``envelope``       the event's body as an ``EventEnvelope`` (``conversation_id``, ``user_id``, ``message``)
a ``DialogFlow``   annotate a parameter with your flow class: its instance for the event's conversation
subclass           (``subject`` = the event's ``user_id``)
=================  =====================================================================================
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from cozegate.conversations.context import ContextStore, DialogFlow
from cozegate.conversations.replies import reply_event
from cozegate.coze import CozeClient
from cozegate.coze.clients import CozeClients
from cozegate.inbox import Event, Inbox, PermanentError
from cozegate.inbox.handlers import Provider
from cozegate.tenants.live import LiveTenants
from cozegate.webhooks.envelope import EventEnvelope


class Say:
    """Replies to one event's sender (``await say("...")``), each through the outbox."""

    def __init__(self, inbox: Inbox, tenants: LiveTenants, event: Event) -> None:
        self._inbox = inbox
        self._tenants = tenants
        self._event = event
        self._said = 0

    async def __call__(self, text: str) -> None:
        tenant = self._tenants.current.bot(self._event.tenant)
        if tenant is None or not tenant.reply_url:
            raise PermanentError(f"tenant {self._event.tenant} has no reply_url to say anything to")
        envelope = _envelope(self._event)
        self._said += 1
        reply = reply_event(self._event, envelope.conversation_id, envelope.user_id, text, said=self._said)
        await self._inbox.commit(_nothing, [reply])


class HandlerKit:
    """The injector a running gateway binds to its handlers (``EventHandlers.bind``)."""

    def __init__(self, inbox: Inbox, tenants: LiveTenants, coze: CozeClients, contexts: ContextStore) -> None:
        self._inbox = inbox
        self._tenants = tenants
        self._coze = coze
        self._contexts = contexts
        self._flows: dict[type[DialogFlow], Provider] = {}

    def offers(self) -> list[str]:
        return ["say", "coze", "contexts", "envelope", "a DialogFlow subclass"]

    def provider(self, name: str, annotation: Any) -> Provider | None:
        """By type first, then by name; the same provider for the same thing (one ``Say`` per event)."""
        if annotation is Say or name == "say":
            return self._say
        if annotation is CozeClient or name == "coze":
            return self._coze_client
        if annotation is ContextStore or name == "contexts":
            return self._context_store
        if annotation is EventEnvelope or name == "envelope":
            return _envelope
        if inspect.isclass(annotation) and issubclass(annotation, DialogFlow):
            return self._flows.setdefault(annotation, functools.partial(self._flow, annotation))
        return None

    def _say(self, event: Event) -> Say:
        return Say(self._inbox, self._tenants, event)

    def _coze_client(self, event: Event) -> CozeClient:
        return self._coze.for_tenant(self._tenants.current.bot(event.tenant))

    def _context_store(self, event: Event) -> ContextStore:
        return self._contexts

    def _flow(self, flow: type[DialogFlow], event: Event) -> DialogFlow:
        envelope = _envelope(event)
        if not envelope.conversation_id:
            raise PermanentError(f"{flow.__name__} needs the event's conversation_id")
        return flow(self._contexts, event.tenant, envelope.conversation_id, subject=envelope.user_id)


def _envelope(event: Event) -> EventEnvelope:
    return EventEnvelope.model_validate_json(event.payload_text)


def _nothing(_: object) -> None:
    return None
