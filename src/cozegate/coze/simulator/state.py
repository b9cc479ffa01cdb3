"""The in-memory store: bots, conversations and their messages, chats, datasets, files, workflow runs.

Concurrency: every method is synchronous and never awaits, so on the server's event loop each one runs
to its end before another request can touch the store; handlers await only outside these methods.
Time: a non-streaming chat completes lazily; ``advance()`` (called at the start of every request)
finalizes the chats whose ``ready_at`` has passed, so no background task is needed.
"""

from __future__ import annotations

import json

from cozegate.coze.simulator.bots import BotReply, Passage
from cozegate.coze.simulator.config import BotConfig, DatasetConfig, SimulatorConfig, WorkflowConfig
from cozegate.coze.simulator.envelopes import CozeCode, CozeError
from cozegate.coze.simulator.ids import Clock, IdGenerator
from cozegate.coze.simulator.records import (
    BotRecord,
    ChatRecord,
    ConversationRecord,
    DatasetRecord,
    DocumentRecord,
    FileRecord,
    MessageRecord,
    Turn,
    WorkflowRunRecord,
)
from cozegate.coze.simulator.sse import dump_json

VERBOSE_FINISH = dump_json({"msg_type": "generate_answer_finish", "data": "", "from_module": None, "from_unit": None})


def token_estimate(text: str) -> int:
    return max(1, len(text.split()))


class SimState:
    def __init__(self, config: SimulatorConfig, ids: IdGenerator, clock: Clock) -> None:
        self.config = config
        self.ids = ids
        self.clock = clock
        now = clock.now()
        self.bots: dict[str, BotRecord] = {bot.id: BotRecord.of(bot, now) for bot in config.all_bots()}
        self.workflows: dict[str, WorkflowConfig] = {wf.id: wf for wf in config.all_workflows()}
        self.conversations: dict[str, ConversationRecord] = {}
        self.chats: dict[str, ChatRecord] = {}
        self.datasets: dict[str, DatasetRecord] = {}
        self.documents: dict[str, DocumentRecord] = {}
        for dataset in config.all_datasets():
            self._add_dataset(dataset, now)
        self.files: dict[str, FileRecord] = {}
        self.workflow_runs: dict[str, WorkflowRunRecord] = {}
        self._scheduled: dict[str, ChatRecord] = {}  # non-streaming turns waiting for their ready_at

    def _add_dataset(self, config: DatasetConfig, now: int) -> None:
        self.datasets[config.id] = DatasetRecord(
            config.id, config.name, config.description, config.space_id, 0, now, now
        )
        for document in config.documents:
            doc = DocumentRecord(
                document_id=self.ids.next(),
                dataset_id=config.id,
                name=document.name,
                text=document.text,
                size=len(document.text.encode()),
                type=document.name.rsplit(".", 1)[-1] if "." in document.name else "txt",
                source_type=0,
                format_type=0,
                create_time=now,
                update_time=now,
                ready_at=0.0,  # processed
            )
            self.documents[doc.document_id] = doc

    # bots

    def add_bot(self, config: BotConfig) -> BotRecord:
        record = BotRecord.of(config, self.clock.now())
        self.bots[record.id] = record
        return record

    def bot(self, bot_id: str | None) -> BotRecord:
        record = self.bots.get(bot_id or "")
        if record is None:
            raise CozeError(CozeCode.BOT_INVALID, f"The bot does not exist or is invalid: {bot_id!r}")
        return record

    def passages_for(self, bot: BotRecord) -> list[Passage]:
        passages = [Passage.of(p) for p in bot.config.passages]
        mono = self.clock.mono()
        for document in self.documents.values():
            if document.dataset_id in bot.dataset_ids and document.text and document.status(mono) == 1:
                passages.append(Passage(document.name, document.text))
        return passages

    # conversations and messages

    def create_conversation(
        self, bot_id: str = "", name: str = "", meta_data: dict[str, str] | None = None, connector_id: str = "1024"
    ) -> ConversationRecord:
        now = self.clock.now()
        conversation = ConversationRecord(
            id=self.ids.next(),
            bot_id=bot_id,
            name=name,
            created_at=now,
            updated_at=now,
            section_id=self.ids.next(),
            meta_data=dict(meta_data or {}),
            connector_id=connector_id,
            creator_id=self.config.user.user_id,
        )
        self.conversations[conversation.id] = conversation
        return conversation

    def conversation(self, conversation_id: str | None) -> ConversationRecord:
        conversation = self.conversations.get(conversation_id or "")
        if conversation is None:
            raise CozeError(CozeCode.CONVERSATION_INVALID, f"The conversation does not exist: {conversation_id!r}")
        return conversation

    def new_message(
        self,
        conversation: ConversationRecord,
        *,
        role: str,
        type: str,
        content: str,
        content_type: str = "text",
        meta_data: dict[str, str] | None = None,
        chat: ChatRecord | None = None,
    ) -> MessageRecord:
        """A message with an id, not yet in the conversation."""
        now = self.clock.now()
        return MessageRecord(
            id=self.ids.next(),
            conversation_id=conversation.id,
            role=role,
            type=type,
            content=content,
            content_type=content_type,
            created_at=now,
            updated_at=now,
            meta_data=dict(meta_data or {}),
            bot_id=chat.bot_id if chat else "",
            chat_id=chat.id if chat else "",
            section_id=conversation.section_id,
        )

    def append(self, conversation: ConversationRecord, message: MessageRecord) -> MessageRecord:
        conversation.messages.append(message)
        conversation.updated_at = self.clock.now()
        return message

    def message(self, conversation: ConversationRecord, message_id: str | None) -> MessageRecord:
        for message in conversation.messages:
            if message.id == message_id:
                return message
        raise CozeError(CozeCode.NOT_FOUND, f"The message does not exist: {message_id!r}")

    # chats

    def running_chat(self, conversation_id: str) -> ChatRecord | None:
        for chat in self.chats.values():
            if chat.conversation_id == conversation_id and chat.active:
                return chat
        return None

    def chat(self, conversation_id: str | None, chat_id: str | None) -> ChatRecord:
        chat = self.chats.get(chat_id or "")
        if chat is None or chat.conversation_id != conversation_id:
            raise CozeError(CozeCode.NOT_FOUND, f"The chat does not exist: {chat_id!r}")
        return chat

    def start_turn(
        self, chat: ChatRecord, reply: BotReply, outputs: list[MessageRecord], delay_s: float | None
    ) -> None:
        """Put ``chat`` in progress with a decided turn; ``delay_s`` None: a stream finalizes it."""
        chat.status = "in_progress"
        chat.pending = Turn(reply, outputs, token_estimate(chat.user_text))
        chat.ready_at = None if delay_s is None else self.clock.mono() + delay_s
        if chat.ready_at is not None:
            self._scheduled[chat.id] = chat

    def advance(self) -> None:
        """Finalize the non-streaming turns whose time has come."""
        mono = self.clock.mono()
        for chat in [c for c in self._scheduled.values() if c.ready_at is None or c.ready_at <= mono]:
            self.finalize(chat)

    def finalize(self, chat: ChatRecord) -> None:
        """Make the pending turn visible and settle the chat's status (idempotent; skips a cancelled chat)."""
        turn, chat.pending, chat.ready_at = chat.pending, None, None
        self._scheduled.pop(chat.id, None)
        if turn is None or not chat.active:
            return
        now = self.clock.now()
        chat.messages.extend(turn.outputs)
        conversation = self.conversations.get(chat.conversation_id)
        if conversation is not None and chat.save_history:
            for message in turn.outputs:
                self.append(conversation, message)
        output_tokens = sum(token_estimate(m.content) for m in turn.outputs if m.type == "answer")
        chat.usage = {
            "input_count": chat.usage["input_count"] + turn.input_tokens,
            "output_count": chat.usage["output_count"] + output_tokens,
            "token_count": chat.usage["token_count"] + turn.input_tokens + output_tokens,
        }
        reply = turn.reply
        if reply.kind == "fail":
            chat.status, chat.failed_at, chat.last_error = "failed", now, (reply.error_code, reply.error_msg)
        elif reply.kind == "tool_call":
            chat.status, chat.required_action = "requires_action", reply.tool_call
        else:
            chat.status, chat.completed_at, chat.required_action = "completed", now, None

    def cancel(self, chat: ChatRecord) -> None:
        if not chat.active:
            raise CozeError(CozeCode.NOT_CANCELLABLE, f"{CozeCode.NOT_CANCELLABLE.name}: chat is {chat.status}")
        chat.status, chat.pending, chat.ready_at, chat.completed_at = "canceled", None, None, self.clock.now()
        self._scheduled.pop(chat.id, None)

    # knowledge

    def dataset(self, dataset_id: str | None) -> DatasetRecord:
        dataset = self.datasets.get(dataset_id or "")
        if dataset is None:
            raise CozeError(CozeCode.NOT_FOUND, f"The dataset does not exist: {dataset_id!r}")
        return dataset

    def documents_of(self, dataset_id: str) -> list[DocumentRecord]:
        return [d for d in self.documents.values() if d.dataset_id == dataset_id]

    def document_ready_at(self) -> float:
        return self.clock.mono() + self.config.document_processing_ms / 1000

    # workflows

    def workflow(self, workflow_id: str | None) -> WorkflowConfig:
        workflow = self.workflows.get(workflow_id or "")
        if workflow is None:
            raise CozeError(CozeCode.NOT_FOUND, f"The workflow does not exist or is not published: {workflow_id!r}")
        return workflow

    # lookups for fault matching

    def bot_id_for(self, chat_id: str | None, conversation_id: str | None) -> str | None:
        chat = self.chats.get(chat_id or "")
        if chat is not None:
            return chat.bot_id
        conversation = self.conversations.get(conversation_id or "")
        return conversation.bot_id or None if conversation is not None else None


def object_string_text(content: str) -> str:
    """The text parts of an ``object_string`` message (a JSON array of {type, text|file_id|file_url})."""
    try:
        items = json.loads(content)
    except ValueError:
        return content
    if not isinstance(items, list):
        return content
    return " ".join(str(i.get("text", "")) for i in items if isinstance(i, dict) and i.get("type") == "text")
