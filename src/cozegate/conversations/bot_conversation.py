"""One recipe for talking to a tenant's bot, shared by the webhook pipeline and the chat proxy.

    line = talk.line(tenant)                  # the tenant and the client of its Coze account
    answer = await talk.ask(line, question)   # or: async for progress in talk.stream(line, question)

In between, always in this order: the bot that answers this user (the rollout variant, sticky), its
health route (another bot, or the fallback reply while its circuit is open, without calling Coze),
the Coze conversation that carries the external one (mapped, made on first use, or made by Coze with
the chat when there is none yet), the user's words as they may leave for Coze (the tenant's PII
policy, then its knowledge passages), and the chat itself (streamed, tools run, a broken stream
resumed or reported). What is recorded afterwards is the caller's: the pipeline stores the turn and
its reply in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

from cozegate.compliance.pii import MaskMode, PiiMasker
from cozegate.conversations.store import ChatRef, ConversationStore
from cozegate.coze import AnswerDelta, ChatAnswer, ChatStarted, CozeClient, ToolRunner, stream_chat
from cozegate.coze.chat_runner import DEFAULT_DEADLINE
from cozegate.coze.clients import CozeClients
from cozegate.health.routing import HealthRouting
from cozegate.lifecycle.live_releases import LiveReleases
from cozegate.observability.log_context import bind_log_fields
from cozegate.rollout import Exposures, assign
from cozegate.tenants.live import LiveTenants
from cozegate.tenants.registry import TenantBot

log = logging.getLogger(__name__)

QUESTION_TAG = "cozegate_event"  # meta_data key on the user's message: the tenant and event it came from
TAG_SEARCH_DEPTH = 50  # latest messages (one page) of the conversation searched for an unrecorded chat

# (tenant, the user's words, the text for Coze) -> the text for Coze, e.g. with knowledge passages
Augment = Callable[[str, str, str], Awaitable[str]]


class UnknownTenantError(LookupError):
    pass


class NoBotError(LookupError):
    """The tenant has no ``bot_id`` (and no rollout) configured."""


class BotNotLiveError(Exception):
    """The tenant's named managed bot has no live release (deploying, stopped): try again later."""


class TenantMisconfiguredError(Exception):
    """The tenant's configuration cannot reach Coze (a base URL that is not Coze's, say)."""

    code = "tenant_misconfigured"


@dataclass(frozen=True, slots=True)
class TenantLine:
    """A tenant's line to Coze: its settings as they are now, and the client of its account."""

    tenant: TenantBot
    client: CozeClient


@dataclass(frozen=True, slots=True)
class Question:
    user_id: str  # who asks: Coze's user id and the rollout key
    text: str  # their words, as written
    conversation: str | None  # the external conversation; None: a new one, which Coze makes with the chat
    owner: str | None = None  # recorded as the conversation's user (None: none recorded)
    private: bool = False  # a conversation recorded for another user is not found (the chat proxy)
    tag: str | None = None  # marks the user's message at Coze (meta_data), so its chat can be found again
    chat: ChatRef | None = None  # a chat already asked for this question: followed to its end, not asked again


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    bot_id: str
    chat_id: str | None  # None when the fallback answered
    conversation: str | None  # the external conversation id (a new one's is Coze's)
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class Started:
    """Coze announced the chat: its id, the external conversation, the Coze conversation that carries it,
    and the bot asked."""

    chat_id: str
    conversation: str
    coze_conversation: str
    bot_id: str

    def ref(self) -> ChatRef:
        return ChatRef(self.coze_conversation, self.chat_id, self.bot_id)


OnStarted = Callable[[Started], Awaitable[None]]
OnAsking = Callable[[ChatRef], Awaitable[None]]  # the chat about to be asked for (its id empty)

BotProgress = Started | AnswerDelta | Answer


class BotConversations:
    def __init__(
        self,
        store: ConversationStore,
        clients: CozeClients,
        tenants: LiveTenants,
        exposures: Exposures,
        routing: HealthRouting,
        *,
        augment: Augment | None = None,
        tools: ToolRunner | None = None,
        chat_timeout: float = DEFAULT_DEADLINE,
        live: LiveReleases | None = None,
    ) -> None:
        self._store = store
        self._clients = clients
        self._tenants = tenants
        self._exposures = exposures
        self._routing = routing
        self._augment = augment
        self._tools = tools
        self.chat_timeout = chat_timeout
        self._live = live

    def line(self, tenant_name: str) -> TenantLine:
        tenant = self._tenants.current.bot(tenant_name)
        if tenant is None:
            raise UnknownTenantError(f"no tenant named {tenant_name!r}")
        try:
            return TenantLine(tenant, self._clients.for_tenant(tenant))
        except PermissionError as exc:
            raise TenantMisconfiguredError(str(exc)) from None

    async def ask(
        self,
        line: TenantLine,
        question: Question,
        *,
        on_asking: OnAsking | None = None,
        on_started: OnStarted | None = None,
        deadline: float | None = None,
    ) -> Answer:
        steps = self.stream(line, question, on_asking=on_asking, on_started=on_started, deadline=deadline)
        async with contextlib.aclosing(steps) as progress:
            async for step in progress:
                if isinstance(step, Answer):
                    return step
        raise AssertionError("stream ends with the answer or raises")  # pragma: no cover

    async def stream(
        self,
        line: TenantLine,
        question: Question,
        *,
        on_asking: OnAsking | None = None,
        on_started: OnStarted | None = None,
        deadline: float | None = None,
    ) -> AsyncGenerator[BotProgress, None]:
        """``Started``, ``AnswerDelta`` pieces, then the ``Answer`` (a fallback: one piece and the answer).
        ``on_asking`` is awaited just before the user's message goes to Coze, ``on_started`` as soon as Coze
        announces the chat (the pipeline records both). ``deadline`` (the event loop's time) bounds all of
        it: what is left of a chat then is cancelled at Coze."""
        tenant = line.tenant
        async with asyncio.timeout_at(deadline):  # the steps before the chat: no chat to cancel yet
            prepared = await self._prepare(line, question)
        if isinstance(prepared, Answer):
            yield AnswerDelta(prepared.text)
            yield prepared
            return
        bot_id, coze_conversation, text = prepared
        if question.chat is None and on_asking is not None:
            await on_asking(ChatRef(coze_conversation or "", "", bot_id))
        external = question.conversation
        remember: asyncio.Task[str] | None = None
        chat = stream_chat(
            line.client,
            bot_id=bot_id,
            user_id=question.user_id,
            conversation_id=coze_conversation,
            text=text,
            tools=self._tools,
            meta_data={QUESTION_TAG: question.tag} if question.tag else None,
            existing=question.chat.chat_id if question.chat is not None else None,
            deadline_seconds=self.chat_timeout,
            deadline_at=deadline,
        )
        try:
            async with contextlib.aclosing(chat) as steps:
                async for step in steps:
                    if isinstance(step, ChatStarted):
                        if external is None:  # Coze made the conversation with the chat: its id is the external one
                            external = step.conversation_id
                            remember = asyncio.create_task(  # off the stream's path
                                self._store.remember_conversation(
                                    tenant.name, external, external, bot_id, question.owner
                                )
                            )
                        started = Started(step.chat_id, external, step.conversation_id, bot_id)
                        if on_started is not None:
                            await on_started(started)
                        yield started
                    elif isinstance(step, AnswerDelta):
                        yield step
                    else:
                        if remember is not None:  # stored before the answer: the next message finds it
                            try:
                                await asyncio.shield(remember)
                            except Exception as exc:
                                log.warning("the conversation mapping was not stored: %s", exc)
                            remember = None
                        yield _answer(step, bot_id, external)
        finally:
            if remember is not None:
                await _settled(remember)

    async def _prepare(self, line: TenantLine, question: Question) -> Answer | tuple[str, str | None, str]:
        """The bot, the Coze conversation and the text for Coze; or the fallback answer of an open circuit."""
        tenant = line.tenant
        if question.chat is not None:
            return question.chat.bot_id, question.chat.coze_conversation, ""
        wanted = bot_for(tenant, question.user_id, self._exposures, self._live)
        bot_id, fallback = self._routing.route(tenant.name, wanted)
        bind_log_fields(bot=bot_id)
        if fallback is not None:  # the bot's circuit is open (health incident): its polite reply, no Coze call
            return Answer(fallback, bot_id, None, question.conversation, fallback=True)
        coze_conversation = await self._conversation(line, bot_id, question)
        text = outbound_text(question.text, tenant.mask_pii_to_coze)
        if self._augment is not None:
            text = await self._augment(tenant.name, question.text, text)
        return bot_id, coze_conversation, text

    async def find_chat(self, line: TenantLine, question: Question) -> ChatRef | None:
        """The chat Coze made for this question, found by its tag among the conversation's latest messages
        (for a chat whose start was never recorded here: the process died in between)."""
        if question.tag is None or question.conversation is None:
            return None
        mapped = await self._store.mapping(line.tenant.name, question.conversation)
        if mapped is None:
            return None  # no Coze conversation, so no chat in it
        for message in await line.client.conversation_messages(mapped[0], limit=TAG_SEARCH_DEPTH):
            if (message.meta_data or {}).get(QUESTION_TAG) == question.tag and message.chat_id:
                log.info("found the chat of an unrecorded attempt", extra={"coze_chat_id": message.chat_id})
                return ChatRef(mapped[0], message.chat_id, message.bot_id or "")
        return None

    async def _conversation(self, line: TenantLine, bot_id: str, question: Question) -> str | None:
        """The Coze conversation carrying ``question.conversation`` (made, once, on first use)."""
        if question.conversation is None:
            return None
        tenant = line.tenant.name
        mapped = await self._store.mapping(tenant, question.conversation)
        if mapped is not None:
            coze_id, owner = mapped
            if question.private and owner != question.owner:
                raise LookupError(f"no conversation {question.conversation!r} of yours")  # not even its existence
            return coze_id
        created = await line.client.create_conversation(bot_id=bot_id)
        return await self._store.remember_conversation(
            tenant, question.conversation, created.id, bot_id, question.owner
        )


async def _settled(remember: asyncio.Task[str]) -> None:
    """Wait for a mapping write, also when the stream was cut (a cancelled caller leaves it running); a
    failed write is logged, and the answer goes on (the next message starts a new conversation)."""
    with contextlib.suppress(BaseException):
        await asyncio.shield(remember)
    if remember.done() and not remember.cancelled() and remember.exception() is not None:
        log.warning("the conversation mapping was not stored: %s", remember.exception())


def _answer(chat: ChatAnswer, bot_id: str, conversation: str | None) -> Answer:
    return Answer(chat.text, bot_id, chat.chat_id, conversation)


def bot_for(tenant: TenantBot, user_id: str, exposures: Exposures, live: LiveReleases | None = None) -> str:
    """The Coze bot that answers this user: the user's variant of the tenant's rollout (sticky: same user,
    same variant); else the Coze bot serving its managed bot (what ``cozegate bots deploy`` published, a
    rollback restored, or, while a new release deploys, the one it replaces); else its ``bot_id``. A named
    managed bot that serves nothing yet, or the first release of one arriving with no ``bot_id`` to fall
    back on, is waited for (``BotNotLiveError``: retried)."""
    if tenant.rollout is not None:
        variant = assign(tenant.rollout, user_id)
        exposures.count(tenant.name, tenant.rollout.experiment, variant.name)
        return variant.bot_id
    released = live.coze_bot(tenant.name, tenant.managed_bot) if live is not None else None
    if released is not None:
        return released
    if tenant.managed_bot is not None:
        raise BotNotLiveError(f"managed bot {tenant.managed_bot!r} of tenant {tenant.name} is not running")
    if tenant.bot_id is not None:
        return tenant.bot_id
    if live is not None and live.arriving(tenant.name):
        raise BotNotLiveError(f"tenant {tenant.name}'s managed bot is deploying its first release")
    raise NoBotError(f"tenant {tenant.name} has no bot_id (or rollout, or managed bot) configured")


def outbound_text(text: str, mask_mode: str | None) -> str:
    """The user's text as it may leave for Coze under the tenant's policy."""
    return PiiMasker(mode=MaskMode(mask_mode)).mask(text) if mask_mode else text
