"""The simulator speaks Coze: every endpoint driven through cozepy (sync ``Coze`` and async ``AsyncCoze``) only.

The admin API (``/sim/...``) is used only to look at what the simulator received.
"""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
from cozepy import (
    AsyncCoze,
    AsyncTokenAuth,
    BotKnowledge,
    ChatEventType,
    ChatStatus,
    Coze,
    CozeAPIError,
    DocumentBase,
    DocumentChunkStrategy,
    DocumentFormatType,
    DocumentSourceInfo,
    DocumentUpdateRule,
    JWTAuth,
    Message,
    MessageContentType,
    MessageRole,
    MessageType,
    PublishStatus,
    TokenAuth,
    ToolOutput,
    WorkflowEventType,
)
from cozepy.chat import Chat, ChatEvent
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cozegate.coze.simulator.config import DEFAULT_DATASET
from tests.support.sim_server import SimServer

q = Message.build_user_question_text


def kinds(events: list[ChatEvent]) -> list[str]:
    """Event names, with each run of deltas folded into one ``delta*``."""
    names: list[str] = []
    for event in events:
        name = "delta*" if event.event == ChatEventType.CONVERSATION_MESSAGE_DELTA else event.event.value
        if not names or names[-1] != name or name != "delta*":
            names.append(name)
    return names


def answer_of(events: list[ChatEvent]) -> str:
    return "".join(
        e.message.content for e in events if e.event == ChatEventType.CONVERSATION_MESSAGE_DELTA and e.message
    )


async def poll(acoze: AsyncCoze, chat: Chat) -> Chat:
    """What ``create_and_poll`` does, for the async client (which has no create_and_poll)."""
    for _ in range(200):
        if chat.status != ChatStatus.IN_PROGRESS:
            return chat
        await asyncio.sleep(0.05)
        chat = await acoze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id)
    raise AssertionError("the chat never left in_progress")


# chat


def test_create_and_poll_answers_and_lists_the_chat_messages(coze: Coze, sim: SimServer) -> None:
    sim.clear_requests()
    result = coze.chat.create_and_poll(bot_id="bot-echo", user_id="u1", additional_messages=[q("hi there")])

    assert result.chat.status == ChatStatus.COMPLETED
    assert result.chat.completed_at is not None
    assert result.chat.usage is not None
    assert result.chat.usage.token_count > 0
    assert result.messages is not None
    assert [(m.type, m.content) for m in result.messages][:1] == [(MessageType.ANSWER, "echo: hi there")]
    verbose = result.messages[1]
    assert verbose.type == MessageType.VERBOSE
    assert json.loads(verbose.content)["msg_type"] == "generate_answer_finish"
    assert all(m.chat_id == result.chat.id and m.role == MessageRole.ASSISTANT for m in result.messages)
    # cozepy sent conversation_id empty: the simulator made a conversation, then create_and_poll polled via POST
    create = sim.requests("chat.create")[0]
    assert create["query"] == {"conversation_id": ""}
    assert {r["method"] for r in sim.requests("chat.retrieve")} == {"POST"}


def test_chat_retrieve_accepts_get_as_documented(coze: Coze, sim: SimServer) -> None:
    chat = coze.chat.create(bot_id="bot-echo", user_id="u1", additional_messages=[q("x")])
    r = httpx.get(
        sim.url + "/v3/chat/retrieve",
        params={"conversation_id": chat.conversation_id, "chat_id": chat.id},
        headers={"Authorization": "Bearer test-token"},
    )
    assert r.json()["code"] == 0
    assert r.json()["data"]["id"] == chat.id


def test_stream_sends_coze_event_order_and_deltas_add_up(coze: Coze) -> None:
    events = list(coze.chat.stream(bot_id="bot-canned", user_id="u1", additional_messages=[q("Hello")]))

    assert kinds(events) == [
        "conversation.chat.created",
        "conversation.chat.in_progress",
        "delta*",
        "conversation.message.completed",
        "conversation.message.completed",
        "conversation.message.completed",
        "conversation.chat.completed",
    ]
    completed = [e.message for e in events if e.event == ChatEventType.CONVERSATION_MESSAGE_COMPLETED and e.message]
    assert [m.type for m in completed] == [MessageType.ANSWER, MessageType.VERBOSE, MessageType.FOLLOW_UP]
    assert answer_of(events) == completed[0].content == "Hello! How can I help you today?"
    assert sum(e.event == ChatEventType.CONVERSATION_MESSAGE_DELTA for e in events) > 1
    final = events[-1].chat
    assert final is not None
    assert final.status == ChatStatus.COMPLETED
    assert final.usage
    assert final.usage.output_count
    chat_id, conversation_id = final.id, final.conversation_id

    assert coze.chat.retrieve(conversation_id=conversation_id, chat_id=chat_id).status == ChatStatus.COMPLETED
    listed = coze.chat.messages.list(conversation_id=conversation_id, chat_id=chat_id)
    assert [m.type for m in listed] == [MessageType.ANSWER, MessageType.VERBOSE, MessageType.FOLLOW_UP]
    history = list(coze.conversations.messages.list(conversation_id=conversation_id, order="asc"))
    assert [(m.role, m.content) for m in history] == [
        (MessageRole.USER, "Hello"),
        (MessageRole.ASSISTANT, "Hello! How can I help you today?"),
    ]


def test_a_conversation_keeps_its_history_across_chats(coze: Coze) -> None:
    conversation = coze.conversations.create(bot_id="bot-echo")
    for text in ("first", "second"):
        coze.chat.create_and_poll(
            bot_id="bot-echo", user_id="u1", conversation_id=conversation.id, additional_messages=[q(text)]
        )
    history = [m.content for m in coze.conversations.messages.list(conversation_id=conversation.id, order="asc")]
    assert history == ["first", "echo: first", "second", "echo: second"]


def test_a_running_chat_blocks_the_conversation_and_cancel_frees_it(coze: Coze) -> None:
    chat = coze.chat.create(bot_id="bot-slow", user_id="u1", additional_messages=[q("take your time")])
    assert chat.status == ChatStatus.IN_PROGRESS

    with pytest.raises(CozeAPIError) as busy:
        coze.chat.create(
            bot_id="bot-slow", user_id="u1", conversation_id=chat.conversation_id, additional_messages=[q("again")]
        )
    assert busy.value.code == 4016

    canceled = coze.chat.cancel(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert canceled.status == ChatStatus.CANCELED
    with pytest.raises(CozeAPIError) as again:
        coze.chat.cancel(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert again.value.code == 4104
    assert coze.chat.messages.list(conversation_id=chat.conversation_id, chat_id=chat.id).data == []


def test_cancel_of_a_completed_chat_is_4104(coze: Coze) -> None:
    done = coze.chat.create_and_poll(bot_id="bot-echo", user_id="u1", additional_messages=[q("x")]).chat
    with pytest.raises(CozeAPIError) as err:
        coze.chat.cancel(conversation_id=done.conversation_id, chat_id=done.id)
    assert err.value.code == 4104
    assert err.value.logid


def test_bot_errors_unknown_4006_unpublished_4015_missing_conversation_4002(coze: Coze) -> None:
    with pytest.raises(CozeAPIError) as unknown:
        coze.chat.create(bot_id="no-such-bot", user_id="u1", additional_messages=[q("x")])
    assert unknown.value.code == 4006
    with pytest.raises(CozeAPIError) as draft:
        coze.chat.create(bot_id="bot-draft", user_id="u1", additional_messages=[q("x")])
    assert draft.value.code == 4015
    with pytest.raises(CozeAPIError) as conversation:
        coze.chat.create(bot_id="bot-echo", user_id="u1", conversation_id="123", additional_messages=[q("x")])
    assert conversation.value.code == 4002
    with pytest.raises(CozeAPIError) as bad:
        coze.chat.create(bot_id="bot-echo", user_id="u1", meta_data={f"k{i}": "v" for i in range(17)})
    assert bad.value.code == 4003


def test_failing_bot_streams_chat_failed_and_polls_to_failed(coze: Coze) -> None:
    events = list(coze.chat.stream(bot_id="bot-fail", user_id="u1", additional_messages=[q("x")]))
    assert kinds(events) == ["conversation.chat.created", "conversation.chat.in_progress", "conversation.chat.failed"]
    failed = events[-1].chat
    assert failed is not None
    assert failed.status == ChatStatus.FAILED
    assert failed.failed_at
    assert failed.last_error is not None
    assert failed.last_error.code == 5000

    polled = coze.chat.create_and_poll(bot_id="bot-fail", user_id="u1", additional_messages=[q("x")])
    assert polled.chat.status == ChatStatus.FAILED
    assert polled.chat.last_error is not None
    assert polled.chat.last_error.code == 5000


def test_knowledge_bot_cites_the_best_matching_passage(coze: Coze) -> None:
    result = coze.chat.create_and_poll(
        bot_id="bot-knowledge", user_id="u1", additional_messages=[q("How long does shipping take?")]
    )
    assert result.messages is not None
    assert (
        result.messages[0].content
        == "According to Shipping: Orders ship within 2 business days; delivery takes 3 to 5."
    )


def test_tool_call_streams_requires_action_then_submit_streams_the_answer(coze: Coze) -> None:
    events = list(coze.chat.stream(bot_id="bot-tool", user_id="u1", additional_messages=[q("weather in Paris")]))
    assert kinds(events) == [
        "conversation.chat.created",
        "conversation.chat.in_progress",
        "conversation.message.completed",
        "conversation.chat.requires_action",
    ]
    function_call = events[2].message
    assert function_call is not None
    assert function_call.type == MessageType.FUNCTION_CALL
    chat = events[-1].chat
    assert chat is not None
    assert chat.status == ChatStatus.REQUIRES_ACTION
    assert chat.required_action is not None
    assert chat.required_action.submit_tool_outputs is not None
    call = chat.required_action.submit_tool_outputs.tool_calls[0]
    assert call.type == "function"
    assert call.function is not None
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"query": "weather in Paris"}
    assert coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id).status == "requires_action"

    resumed = list(
        coze.chat.submit_tool_outputs(
            conversation_id=chat.conversation_id,
            chat_id=chat.id,
            tool_outputs=[ToolOutput(tool_call_id=call.id, output="sunny, 21 C")],
            stream=True,
        )
    )
    assert kinds(resumed)[0] == "conversation.chat.in_progress"
    assert kinds(resumed)[-1] == "conversation.chat.completed"
    assert answer_of(resumed) == "Tool result: sunny, 21 C"
    final = coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert final.status == ChatStatus.COMPLETED
    assert final.required_action is None
    types = [m.type for m in coze.chat.messages.list(conversation_id=chat.conversation_id, chat_id=chat.id)]
    assert types == [MessageType.FUNCTION_CALL, MessageType.TOOL_RESPONSE, MessageType.ANSWER, MessageType.VERBOSE]


def test_tool_call_without_streaming_polls_to_requires_action_and_submit_completes(coze: Coze) -> None:
    first = coze.chat.create_and_poll(bot_id="bot-tool", user_id="u1", additional_messages=[q("order 42")])
    assert first.chat.status == ChatStatus.REQUIRES_ACTION
    assert first.messages is not None
    assert [m.type for m in first.messages] == [MessageType.FUNCTION_CALL]
    assert first.chat.required_action
    assert first.chat.required_action.submit_tool_outputs
    call_id = first.chat.required_action.submit_tool_outputs.tool_calls[0].id

    with pytest.raises(CozeAPIError) as wrong:
        coze.chat.submit_tool_outputs(
            conversation_id=first.chat.conversation_id,
            chat_id=first.chat.id,
            tool_outputs=[ToolOutput(tool_call_id="not-the-call", output="x")],
            stream=False,
        )
    assert wrong.value.code == 4000

    chat = coze.chat.submit_tool_outputs(
        conversation_id=first.chat.conversation_id,
        chat_id=first.chat.id,
        tool_outputs=[ToolOutput(tool_call_id=call_id, output="shipped")],
        stream=False,
    )
    assert isinstance(chat, Chat)
    assert chat.status == ChatStatus.IN_PROGRESS
    while chat.status == ChatStatus.IN_PROGRESS:
        chat = coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert chat.status == ChatStatus.COMPLETED
    messages = coze.chat.messages.list(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert [m.content for m in messages if m.type == MessageType.ANSWER] == ["Tool result: shipped"]


async def test_async_create_poll_and_list(acoze: AsyncCoze) -> None:
    chat = await acoze.chat.create(bot_id="bot-echo", user_id="u2", additional_messages=[q("async hello")])
    assert chat.status == ChatStatus.IN_PROGRESS
    chat = await poll(acoze, chat)
    assert chat.status == ChatStatus.COMPLETED
    messages = await acoze.chat.messages.list(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert messages[0].content == "echo: async hello"


async def test_async_stream_and_tool_submit_stream(acoze: AsyncCoze) -> None:
    events = [e async for e in acoze.chat.stream(bot_id="bot-echo", user_id="u2", additional_messages=[q("a b c")])]
    assert answer_of(events) == "echo: a b c"
    assert events[-1].event == ChatEventType.CONVERSATION_CHAT_COMPLETED

    events = [e async for e in acoze.chat.stream(bot_id="bot-tool", user_id="u2", additional_messages=[q("q")])]
    chat = events[-1].chat
    assert chat is not None
    assert chat.required_action
    assert chat.required_action.submit_tool_outputs
    call_id = chat.required_action.submit_tool_outputs.tool_calls[0].id
    resumed = [
        e
        async for e in acoze.chat.submit_tool_outputs_stream(
            conversation_id=chat.conversation_id,
            chat_id=chat.id,
            tool_outputs=[ToolOutput(tool_call_id=call_id, output="42")],
        )
    ]
    assert answer_of(resumed) == "Tool result: 42"

    events = [e async for e in acoze.chat.stream(bot_id="bot-tool", user_id="u2", additional_messages=[q("q")])]
    chat = events[-1].chat
    assert chat is not None
    assert chat.required_action
    assert chat.required_action.submit_tool_outputs
    call_id = chat.required_action.submit_tool_outputs.tool_calls[0].id
    pending = await acoze.chat.submit_tool_outputs(
        conversation_id=chat.conversation_id,
        chat_id=chat.id,
        tool_outputs=[ToolOutput(tool_call_id=call_id, output="43")],
    )
    assert (await poll(acoze, pending)).status == ChatStatus.COMPLETED


async def test_async_cancel_retrieves_publish_process_and_bad_token(acoze: AsyncCoze, sim: SimServer) -> None:
    chat = await acoze.chat.create(bot_id="bot-slow", user_id="u2", additional_messages=[q("slow")])
    assert (await acoze.chat.cancel(conversation_id=chat.conversation_id, chat_id=chat.id)).status == "canceled"
    with pytest.raises(CozeAPIError) as not_cancellable:
        await acoze.chat.cancel(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert not_cancellable.value.code == 4104

    conversation = await acoze.conversations.retrieve(conversation_id=chat.conversation_id)
    assert conversation.id == chat.conversation_id
    question = (await acoze.conversations.messages.list(conversation_id=conversation.id)).items[0]
    retrieved = await acoze.conversations.messages.retrieve(conversation_id=conversation.id, message_id=question.id)
    assert retrieved.content == "slow"
    assert retrieved.type == MessageType.QUESTION

    bot_id = (await acoze.bots.create(space_id="sim-workspace", name="Async fresh")).bot_id
    published = await acoze.bots.publish(bot_id=bot_id)
    assert published.version == "2"
    dataset_id = (
        await acoze.datasets.create(name="P", space_id="sim-workspace", format_type=DocumentFormatType.DOCUMENT)
    ).dataset_id
    docs = await acoze.datasets.documents.create(
        dataset_id=dataset_id,
        document_bases=[DocumentBase(name="p.txt", source_info=DocumentSourceInfo.build_local_file("p"))],
    )
    progress = await acoze.datasets.process(dataset_id=dataset_id, document_ids=[docs[0].document_id])
    assert [p.status for p in progress] == [1]

    bad = AsyncCoze(auth=AsyncTokenAuth("nope"), base_url=sim.url)
    with pytest.raises(CozeAPIError) as unauthorized:
        await bad.users.me()
    assert unauthorized.value.code == 4100
    assert unauthorized.value.logid
    http = bad._requester._async_client
    assert http is not None
    await http.aclose()


# conversations and messages


def test_conversations_crud_and_list_paging(coze: Coze) -> None:
    bot = "bot-canned"
    created = [
        coze.conversations.create(bot_id=bot, meta_data={"n": str(i)}, messages=[q(f"opening {i}")]) for i in range(3)
    ]
    first = created[0]
    assert first.meta_data == {"n": "0"}
    assert first.last_section_id
    assert first.name == "opening 0"
    assert coze.conversations.retrieve(conversation_id=first.id).id == first.id

    pages = list(coze.conversations.list(bot_id=bot, page_size=2).iter_pages())
    ids = [c.id for page in pages for c in page.items]
    assert {c.id for c in created} <= set(ids)
    assert len(pages[0].items) == 2
    assert pages[0].has_more

    renamed = coze.conversations.update(conversation_id=first.id, name="renamed")
    assert renamed.name == "renamed"
    section = coze.conversations.clear(conversation_id=first.id)
    assert section.conversation_id == first.id
    assert section.id != first.last_section_id
    assert coze.conversations.retrieve(conversation_id=first.id).last_section_id == section.id

    coze.conversations.delete(conversation_id=first.id)
    with pytest.raises(CozeAPIError) as gone:
        coze.conversations.retrieve(conversation_id=first.id)
    assert gone.value.code == 4002


def test_conversation_messages_create_page_retrieve_modify_delete(coze: Coze) -> None:
    conversation = coze.conversations.create()
    made = [
        coze.conversations.messages.create(
            conversation_id=conversation.id,
            role=MessageRole.USER,
            content=f"m{i}",
            content_type=MessageContentType.TEXT,
            meta_data={"i": str(i)},
        )
        for i in range(5)
    ]
    assert made[0].conversation_id == conversation.id
    assert made[0].meta_data == {"i": "0"}

    newest_first = coze.conversations.messages.list(conversation_id=conversation.id, limit=2)
    pages = list(newest_first.iter_pages())
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert [m.content for p in pages for m in p.items] == ["m4", "m3", "m2", "m1", "m0"]
    assert pages[0].first_id == made[4].id
    assert pages[0].last_id == made[3].id
    assert pages[0].has_more
    assert not pages[-1].has_more

    oldest_first = [m.content for m in coze.conversations.messages.list(conversation_id=conversation.id, order="asc")]
    assert oldest_first == ["m0", "m1", "m2", "m3", "m4"]
    before = coze.conversations.messages.list(conversation_id=conversation.id, before_id=made[1].id, limit=2)
    assert [m.content for m in before.items] == ["m3", "m2"]

    assert coze.conversations.messages.retrieve(conversation_id=conversation.id, message_id=made[2].id).content == "m2"
    modified = coze.conversations.messages.update(
        conversation_id=conversation.id, message_id=made[2].id, content="m2 edited"
    )
    assert modified.content == "m2 edited"
    deleted = coze.conversations.messages.delete(conversation_id=conversation.id, message_id=made[2].id)
    assert deleted.id == made[2].id
    with pytest.raises(CozeAPIError) as gone:
        coze.conversations.messages.retrieve(conversation_id=conversation.id, message_id=made[2].id)
    assert gone.value.code == 4200

    empty = coze.conversations.messages.list(conversation_id=coze.conversations.create().id)
    assert empty.items == []
    assert empty.first_id == ""
    assert not empty.has_more


async def test_async_conversations_and_messages(acoze: AsyncCoze) -> None:
    conversation = await acoze.conversations.create(bot_id="bot-echo", messages=[q("hello")])
    await acoze.conversations.messages.create(
        conversation_id=conversation.id, role=MessageRole.USER, content="two", content_type=MessageContentType.TEXT
    )
    pages = [
        page
        async for page in (
            await acoze.conversations.messages.list(conversation_id=conversation.id, limit=1)
        ).iter_pages()
    ]
    assert [m.content for p in pages for m in p.items] == ["two", "hello"]
    listed = await acoze.conversations.list(bot_id="bot-echo", page_size=50)
    assert conversation.id in [c.id for c in listed.items]


# bots


def test_bots_retrieve_and_list_v1_v2(coze: Coze) -> None:
    bot = coze.bots.retrieve(bot_id="bot-echo")
    assert bot.bot_id == "bot-echo"
    assert bot.name == "Echo"
    assert bot.version
    v2 = coze.bots.retrieve(bot_id="bot-knowledge", use_api_version=2)
    assert v2.bot_id == "bot-knowledge"

    published = [b.bot_id for b in coze.bots.list(space_id="sim-workspace", page_size=3)]
    assert {"bot-echo", "bot-canned", "bot-knowledge", "bot-tool", "bot-fail"} <= set(published)
    assert "bot-draft" not in published
    drafts = [
        b.id
        for b in coze.bots.list(
            space_id="sim-workspace", use_api_version=2, publish_status=PublishStatus.UNPUBLISHED_DRAFT
        )
    ]
    assert "bot-draft" in drafts
    assert "bot-echo" not in drafts
    assert coze.bots.list(space_id="another-space").items == []

    with pytest.raises(CozeAPIError) as unpublished:
        coze.bots.retrieve(bot_id="bot-draft")
    assert unpublished.value.code == 4015
    assert coze.bots.retrieve(bot_id="bot-draft", use_api_version=2, is_published=False).bot_id == "bot-draft"


def test_bot_create_publish_unpublish_cycle(coze: Coze) -> None:
    bot_id = coze.bots.create(space_id="sim-workspace", name="Fresh").bot_id
    with pytest.raises(CozeAPIError) as not_yet:
        coze.chat.create(bot_id=bot_id, user_id="u1", additional_messages=[q("x")])
    assert not_yet.value.code == 4015

    first = coze.bots.publish(bot_id=bot_id)
    second = coze.bots.publish(bot_id=bot_id, connector_ids=["1024"])
    assert first.bot_id == bot_id
    assert int(second.version or 0) == int(first.version or 0) + 1
    assert (
        coze.chat.create_and_poll(bot_id=bot_id, user_id="u1", additional_messages=[q("x")]).chat.status == "completed"
    )
    assert bot_id in [b.bot_id for b in coze.bots.list(space_id="sim-workspace", page_size=50)]

    coze.bots.unpublish(bot_id=bot_id, connector_id="1024")
    with pytest.raises(CozeAPIError) as again:
        coze.chat.create(bot_id=bot_id, user_id="u1", additional_messages=[q("x")])
    assert again.value.code == 4015


async def test_async_bots(acoze: AsyncCoze) -> None:
    assert (await acoze.bots.retrieve(bot_id="bot-tool")).bot_id == "bot-tool"
    listed = await acoze.bots.list(space_id="sim-workspace", page_size=50)
    assert "bot-tool" in [b.bot_id for b in listed.items]


# knowledge


def test_datasets_and_documents_feed_a_knowledge_bot(coze: Coze, sim: SimServer) -> None:
    dataset_id = coze.datasets.create(
        name="Handbook", space_id="sim-workspace", format_type=DocumentFormatType.DOCUMENT
    ).dataset_id
    assert dataset_id in [d.dataset_id for d in coze.datasets.list(space_id="sim-workspace", name="Hand")]

    sim.clear_requests()
    docs = coze.datasets.documents.create(
        dataset_id=dataset_id,
        document_bases=[
            DocumentBase(
                name="Holidays",
                source_info=DocumentSourceInfo.build_local_file("Staff get 25 paid holidays per year."),
                update_rule=DocumentUpdateRule.build_no_auto_update(),
            ),
            DocumentBase(name="Site", source_info=DocumentSourceInfo.build_web_page("https://example.com/")),
        ],
        chunk_strategy=DocumentChunkStrategy.build_auto(),
    )
    assert [d.name for d in docs] == ["Holidays", "Site"]
    assert docs[0].char_count == len("Staff get 25 paid holidays per year.")
    assert docs[0].status == 1
    assert sim.requests("datasets.documents.create")[0]["headers"]["agw-js-conv"] == "str"

    listed = coze.datasets.documents.list(dataset_id=dataset_id, page_size=1)
    assert listed.total == 2
    assert [d.name for d in listed] == ["Holidays", "Site"]
    coze.datasets.documents.update(document_id=docs[1].document_id, document_name="Website")
    progress = coze.datasets.process(dataset_id=dataset_id, document_ids=[d.document_id for d in docs])
    assert [(p.document_name, p.status, p.progress) for p in progress] == [("Holidays", 1, 100), ("Website", 1, 100)]

    sim.admin.post("/sim/bots", json={"id": "bot-handbook", "kind": "knowledge"}).raise_for_status()
    coze.bots.update(bot_id="bot-handbook", knowledge=BotKnowledge(dataset_ids=[dataset_id]))
    answer = coze.chat.create_and_poll(
        bot_id="bot-handbook", user_id="u1", additional_messages=[q("How many holidays do staff get?")]
    )
    assert answer.messages is not None
    assert answer.messages[0].content == "According to Holidays: Staff get 25 paid holidays per year."

    coze.datasets.documents.delete(document_ids=[docs[1].document_id])
    assert coze.datasets.documents.list(dataset_id=dataset_id).total == 1
    coze.datasets.update(dataset_id=dataset_id, name="Handbook v2")
    assert [d.name for d in coze.datasets.list(space_id="sim-workspace", name="v2")] == ["Handbook v2"]
    coze.datasets.delete(dataset_id=dataset_id)
    with pytest.raises(CozeAPIError) as gone:
        coze.datasets.documents.list(dataset_id=dataset_id)
    assert gone.value.code == 4200


async def test_async_datasets(acoze: AsyncCoze) -> None:
    created = await acoze.datasets.create(
        name="Async", space_id="sim-workspace", format_type=DocumentFormatType.DOCUMENT
    )
    docs = await acoze.datasets.documents.create(
        dataset_id=created.dataset_id,
        document_bases=[DocumentBase(name="a.txt", source_info=DocumentSourceInfo.build_local_file("alpha"))],
    )
    listed = await acoze.datasets.documents.list(dataset_id=created.dataset_id)
    assert [d.document_id for d in listed.items] == [docs[0].document_id]


# workflows


def test_workflow_run_returns_data_as_a_json_string_and_a_run_history(coze: Coze) -> None:
    result = coze.workflows.runs.create(workflow_id="wf-echo", parameters={"input": "hello workflow"})
    assert result.data is not None
    assert json.loads(result.data) == {"output": "hello workflow"}
    assert result.debug_url
    assert result.execute_id
    assert result.usage is not None
    history = coze.workflows.runs.run_histories.retrieve(workflow_id="wf-echo", execute_id=result.execute_id)
    assert history.execute_status == "Success"
    assert json.loads(history.output) == {"output": "hello workflow"}

    pending = coze.workflows.runs.create(workflow_id="wf-echo", parameters={"input": "later"}, is_async=True)
    assert pending.execute_id
    assert pending.data == ""
    with pytest.raises(CozeAPIError) as failed:
        coze.workflows.runs.create(workflow_id="wf-fail")
    assert failed.value.code == 5000
    assert failed.value.debug_url
    with pytest.raises(CozeAPIError) as missing:
        coze.workflows.runs.create(workflow_id="wf-nope")
    assert missing.value.code == 4200
    with pytest.raises(CozeAPIError) as both:
        coze.workflows.runs.create(workflow_id="wf-echo", bot_id="bot-echo", app_id="app")
    assert both.value.code == 4000


def test_workflow_stream_sends_message_events_with_ids(coze: Coze) -> None:
    events = list(coze.workflows.runs.stream(workflow_id="wf-echo", parameters={"input": "one two three four five"}))
    assert [e.id for e in events] == list(range(len(events)))
    assert all(e.event == WorkflowEventType.MESSAGE and e.message for e in events)
    pieces = [e.message for e in events if e.message and e.message.node_title == "Message"]
    assert "".join(p.content for p in pieces) == "one two three four five"
    assert pieces[-1].node_is_finish
    assert not pieces[0].node_is_finish
    end = events[-1].message
    assert end is not None
    assert json.loads(end.content) == {"output": "one two three four five"}

    failed = list(coze.workflows.runs.stream(workflow_id="wf-fail"))
    assert [e.event for e in failed] == [WorkflowEventType.ERROR]
    assert failed[0].error is not None
    assert failed[0].error.error_code == 5000


async def test_async_workflows(acoze: AsyncCoze) -> None:
    result = await acoze.workflows.runs.create(workflow_id="wf-echo", parameters={"name": "x"})
    assert result.data is not None
    assert json.loads(json.loads(result.data)["output"]) == {"name": "x"}
    events = [e async for e in acoze.workflows.runs.stream(workflow_id="wf-echo", parameters={"input": "hi"})]
    assert events[-1].message is not None
    assert json.loads(events[-1].message.content) == {"output": "hi"}


# users, files, auth, envelope


def test_users_me_and_files(coze: Coze) -> None:
    me = coze.users.me()
    assert me.user_id
    assert me.user_name == "sim-user"
    uploaded = coze.files.upload(file=("notes.txt", b"hello file"))
    assert uploaded.bytes == len(b"hello file")
    assert uploaded.file_name == "notes.txt"
    assert uploaded.created_at
    assert coze.files.retrieve(file_id=uploaded.id).file_name == "notes.txt"
    with pytest.raises(CozeAPIError) as missing:
        coze.files.retrieve(file_id="nope")
    assert missing.value.code == 4200


async def test_async_users_and_files(acoze: AsyncCoze) -> None:
    assert (await acoze.users.me()).nick_name == "Simulated User"
    uploaded = await acoze.files.upload(file=("a.bin", b"\x00\x01"))
    assert (await acoze.files.retrieve(file_id=uploaded.id)).bytes == 2


def test_bad_token_is_4100_with_logid_and_http_401(sim: SimServer) -> None:
    bad = Coze(auth=TokenAuth("wrong-token"), base_url=sim.url)
    for call in (bad.users.me, lambda: bad.bots.retrieve(bot_id="bot-echo")):
        with pytest.raises(CozeAPIError) as err:
            call()
        assert err.value.code == 4100
        assert err.value.msg == "authentication is invalid"
        assert err.value.logid
    r = httpx.get(sim.url + "/v1/users/me")
    assert r.status_code == 401
    assert r.json()["code"] == 4100
    assert r.json()["detail"]["logid"] == r.headers["x-tt-logid"]


def test_every_response_has_its_own_logid(coze: Coze, sim: SimServer) -> None:
    first, second = coze.users.me(), coze.users.me()
    assert first.response.logid
    assert second.response.logid
    assert first.response.logid != second.response.logid
    unknown = httpx.get(sim.url + "/v1/not/a/path")
    assert unknown.status_code == 404
    assert unknown.headers["x-tt-logid"]


def test_jwt_oauth_flow_issues_an_access_token(sim: SimServer) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    sim.clear_requests()
    coze = Coze(
        auth=JWTAuth(client_id="client-1", private_key=pem, public_key_id="kid-1", base_url=sim.url), base_url=sim.url
    )
    assert coze.users.me().user_name == "sim-user"
    assert coze.users.me().user_name == "sim-user"  # the cached access token still works
    assert [r["endpoint"] for r in sim.requests()] == ["oauth.token", "users.me", "users.me"]
    token_request = sim.requests("oauth.token")[0]
    assert token_request["body"]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_oauth_errors_are_unenveloped(sim: SimServer) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT","kid":"k"}').decode().rstrip("=")
    claims = base64.urlsafe_b64encode(b'{"iss":"c","aud":"elsewhere","iat":1,"exp":99999999999,"jti":"j"}')
    jwt = f"{header}.{claims.decode().rstrip('=')}.sig"
    r = httpx.post(
        sim.url + "/api/permission/oauth2/token",
        headers={"Authorization": f"Bearer {jwt}"},
        json={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "duration_seconds": 900},
    )
    assert r.status_code == 401
    assert "aud" in r.json()["error_message"]


def test_workspaces_list_and_the_default_knowledge_base(coze: Coze) -> None:
    """A cozepy user's usual first calls: the workspaces, then what is in one (a dataset from the start)."""
    [workspace] = list(coze.workspaces.list())
    assert (workspace.id, workspace.role_type) == ("sim-workspace", "owner")
    [dataset] = [d for d in coze.datasets.list(space_id=workspace.id) if d.dataset_id == DEFAULT_DATASET]
    assert dataset.name == "Handbook"  # (other tests of this session may have added datasets beside it)
    documents = list(coze.datasets.documents.list(dataset_id=dataset.dataset_id))
    assert sorted(d.name for d in documents) == ["opening-hours.md", "refunds.md"]
