"""The simulator's objects and their Coze JSON shapes (the fields cozepy's models require, and the usual extras)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cozegate.coze.simulator.bots import BotReply, ToolCall
from cozegate.coze.simulator.config import API_CONNECTOR, BotConfig

ACTIVE_CHAT = ("created", "in_progress")
# Message types the conversation message list leaves out (the chat message list shows them).
INTERMEDIATE_TYPES = ("function_call", "tool_response", "tool_output", "follow_up", "verbose")


@dataclass
class MessageRecord:
    id: str
    conversation_id: str
    role: str
    type: str
    content: str
    content_type: str
    created_at: int
    updated_at: int
    meta_data: dict[str, str] = field(default_factory=dict)
    bot_id: str = ""
    chat_id: str = ""
    section_id: str = ""

    def to_coze(self, content: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "bot_id": self.bot_id,
            "chat_id": self.chat_id,
            "section_id": self.section_id,
            "role": self.role,
            "type": self.type,
            "content": self.content if content is None else content,
            "content_type": self.content_type,
            "meta_data": dict(self.meta_data),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass
class ConversationRecord:
    id: str
    bot_id: str
    name: str
    created_at: int
    updated_at: int
    section_id: str
    meta_data: dict[str, str] = field(default_factory=dict)
    connector_id: str = API_CONNECTOR
    creator_id: str = ""
    messages: list[MessageRecord] = field(default_factory=list)

    def to_coze(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "meta_data": dict(self.meta_data),
            "last_section_id": self.section_id,
            "name": self.name,
            "creator_id": self.creator_id,
            "connector_id": self.connector_id,
        }


@dataclass
class Turn:
    """A bot turn decided but not yet visible: its messages appear when the chat is finalized."""

    reply: BotReply
    outputs: list[MessageRecord]
    input_tokens: int


@dataclass
class ChatRecord:
    id: str
    conversation_id: str
    bot_id: str
    user_id: str
    created_at: int
    section_id: str
    user_text: str
    save_history: bool = True
    meta_data: dict[str, str] = field(default_factory=dict)
    status: str = "created"
    completed_at: int | None = None
    failed_at: int | None = None
    last_error: tuple[int, str] = (0, "")
    required_action: ToolCall | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"token_count": 0, "output_count": 0, "input_count": 0})
    inserted_ids: list[str] = field(default_factory=list)
    messages: list[MessageRecord] = field(default_factory=list)
    pending: Turn | None = None
    ready_at: float | None = None  # monotonic time at which a non-streaming turn completes

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_CHAT

    def to_coze(self, status: str | None = None) -> dict[str, Any]:
        """The Chat object; ``status`` given: the chat as it looked at that earlier stage of a stream
        (no usage yet, no completion fields)."""
        shown = status or self.status
        data: dict[str, Any] = {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "bot_id": self.bot_id,
            "created_at": self.created_at,
            "meta_data": dict(self.meta_data),
            "last_error": {"code": self.last_error[0], "msg": self.last_error[1]},
            "status": shown,
            "section_id": self.section_id,
            "usage": dict(self.usage) if status is None else {"token_count": 0, "output_count": 0, "input_count": 0},
        }
        if status is None:
            if self.completed_at is not None:
                data["completed_at"] = self.completed_at
            if self.failed_at is not None:
                data["failed_at"] = self.failed_at
            if self.required_action is not None and self.status == "requires_action":
                data["required_action"] = required_action_json(self.required_action)
        if self.inserted_ids:
            data["inserted_additional_messages"] = [{"id": message_id} for message_id in self.inserted_ids]
        return data


def required_action_json(call: ToolCall) -> dict[str, Any]:
    return {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {
            "tool_calls": [
                {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            ]
        },
    }


@dataclass
class BotRecord:
    config: BotConfig
    name: str
    description: str
    prompt: str
    space_id: str
    create_time: int
    update_time: int
    connectors: set[str] = field(default_factory=set)
    version: int = 1
    dataset_ids: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, config: BotConfig, now: int) -> BotRecord:
        return cls(
            config=config,
            name=config.name or config.id,
            description=config.description,
            prompt=config.prompt,
            space_id=config.space_id,
            create_time=now,
            update_time=now,
            connectors={API_CONNECTOR} if config.published else set(),
            dataset_ids=list(config.dataset_ids),
        )

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def published(self) -> bool:
        return API_CONNECTOR in self.connectors

    @property
    def icon_url(self) -> str:
        return f"https://example.invalid/bots/{self.id}.png"

    def to_coze(self, owner_user_id: str) -> dict[str, Any]:
        return {
            "bot_id": self.id,
            "name": self.name,
            "description": self.description,
            "icon_url": self.icon_url,
            "create_time": self.create_time,
            "update_time": self.update_time,
            "version": str(self.version),
            "bot_mode": 0,
            "prompt_info": {"prompt": self.prompt},
            "onboarding_info": {"prologue": f"Hi, I am {self.name}.", "suggested_questions": []},
            "knowledge": {"dataset_ids": list(self.dataset_ids), "auto_call": True, "search_strategy": 0},
            "plugin_info_list": [],
            "model_info": {"model_id": "sim-model", "model_name": "Simulated model"},
            "owner_user_id": owner_user_id,
        }

    def to_list_v1(self) -> dict[str, Any]:
        return {
            "bot_id": self.id,
            "bot_name": self.name,
            "description": self.description,
            "icon_url": self.icon_url,
            "publish_time": str(self.update_time),
        }

    def to_list_v2(self, owner_user_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "icon_url": self.icon_url,
            "is_published": self.published,
            "updated_at": self.update_time,
            "published_at": self.update_time if self.published else None,
            "owner_user_id": owner_user_id,
        }


@dataclass
class DocumentRecord:
    document_id: str
    dataset_id: str
    name: str
    text: str
    size: int
    type: str
    source_type: int
    format_type: int
    create_time: int
    update_time: int
    ready_at: float
    update_type: int = 0
    update_interval: int = 0
    web_url: str = ""
    chunk_strategy: dict[str, Any] | None = None

    def status(self, mono_now: float) -> int:
        return 1 if mono_now >= self.ready_at else 0

    def to_coze(self, mono_now: float) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "name": self.name,
            "char_count": len(self.text),
            "size": self.size,
            "slice_count": -(-len(self.text) // 800),  # one slice per 800 characters
            "type": self.type,
            "source_type": self.source_type,
            "format_type": self.format_type,
            "status": self.status(mono_now),
            "hit_count": 0,
            "update_type": self.update_type,
            "update_interval": self.update_interval,
            "create_time": self.create_time,
            "update_time": self.update_time,
            "chunk_strategy": self.chunk_strategy or {"chunk_type": 0},
            "tos_uri": f"sim/{self.document_id}.{self.type}",
        }

    def progress(self, mono_now: float) -> dict[str, Any]:
        done = self.status(mono_now) == 1
        return {
            "document_id": self.document_id,
            "document_name": self.name,
            "url": self.web_url,
            "size": self.size,
            "type": self.type,
            "status": 1 if done else 0,
            "progress": 100 if done else 50,
            "remaining_time": 0 if done else 1,
            "update_type": self.update_type,
            "update_interval": self.update_interval,
        }


@dataclass
class DatasetRecord:
    dataset_id: str
    name: str
    description: str
    space_id: str
    format_type: int
    create_time: int
    update_time: int
    icon_file_id: str = ""

    def to_coze(self, documents: list[DocumentRecord], creator_id: str) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "name": self.name,
            "description": self.description,
            "space_id": self.space_id,
            "status": 1,
            "format_type": self.format_type,
            "can_edit": True,
            "icon_url": "",
            "doc_count": len(documents),
            "file_list": [d.name for d in documents],
            "hit_count": 0,
            "bot_used_count": 0,
            "slice_count": len(documents),
            "all_file_size": sum(d.size for d in documents),
            "creator_id": creator_id,
            "creator_name": "sim-user",
            "create_time": self.create_time,
            "update_time": self.update_time,
        }


@dataclass
class FileRecord:
    id: str
    file_name: str
    content: bytes
    created_at: int

    def to_coze(self) -> dict[str, Any]:
        return {"id": self.id, "bytes": len(self.content), "created_at": self.created_at, "file_name": self.file_name}


@dataclass
class WorkflowRunRecord:
    execute_id: str
    workflow_id: str
    bot_id: str
    run_mode: int
    logid: str
    create_time: int
    output: str
    error_code: int = 0
    error_message: str = ""
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def debug_url(self) -> str:
        return debug_url(self.workflow_id, self.execute_id)

    def to_coze(self, user_id: str) -> dict[str, Any]:
        return {
            "execute_id": self.execute_id,
            "execute_status": "Fail" if self.error_code else "Success",
            "bot_id": self.bot_id or "0",
            "connector_id": API_CONNECTOR,
            "connector_uid": user_id,
            "run_mode": self.run_mode,
            "logid": self.logid,
            "create_time": self.create_time,
            "update_time": self.create_time,
            "output": self.output,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "debug_url": self.debug_url,
            "usage": dict(self.usage),
            "is_output_trimmed": False,
        }


def debug_url(workflow_id: str, execute_id: str) -> str:
    return f"https://www.coze.com/work_flow?execute_id={execute_id}&workflow_id={workflow_id}&sim=1"
