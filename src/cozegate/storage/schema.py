"""Table definitions (SQLAlchemy Core). Migrations in ``storage/migrations`` create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

# SQLite only gives AUTOINCREMENT-like rowids to "INTEGER PRIMARY KEY"; PostgreSQL wants BIGINT.
_Id = BigInteger().with_variant(Integer(), "sqlite")

inbox_events = Table(
    "inbox_events",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("dedup_key", String(255), nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("payload", Text, nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("received_at", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("available_at", Float, nullable=False),
    Column("lease_owner", String(64)),
    Column("last_error", Text),
    Column("attempt_log", Text, nullable=False, default="[]"),
    Column("finished_at", Float),
    # Events with one ordering key (a conversation) are handled one at a time, in arrival order.
    Column("ordering_key", String(300)),
    # W3C traceparent of the span that stored the event: its handling continues that trace.
    Column("trace_parent", String(64)),
    UniqueConstraint("tenant", "dedup_key", name="uq_inbox_events_tenant_dedup_key"),
    Index("ix_inbox_events_status_available_at", "status", "available_at"),
    Index(
        "ix_inbox_events_unfinished_ordering",
        "ordering_key",
        "id",
        sqlite_where=text("status IN ('pending', 'processing')"),
        postgresql_where=text("status IN ('pending', 'processing')"),
    ),
    # the operator console's per-minute series (completions, failed attempts) read these ranges; both are
    # written when an event finishes or fails, never by the webhook ack
    Index(
        "ix_inbox_events_status_finished_at",
        "status",
        "finished_at",
        sqlite_where=text("finished_at IS NOT NULL"),
        postgresql_where=text("finished_at IS NOT NULL"),
    ),
    Index(
        "ix_inbox_events_failed_last_touch",
        text("coalesce(finished_at, available_at)"),
        sqlite_where=text("attempt_log != '[]'"),
        postgresql_where=text("attempt_log != '[]'"),
    ),
    Index(
        "ix_inbox_events_unfinished_unordered",
        "available_at",
        "id",
        sqlite_where=text("ordering_key IS NULL AND status IN ('pending', 'processing')"),
        postgresql_where=text("ordering_key IS NULL AND status IN ('pending', 'processing')"),
    ),
)

console_revoked_sessions = Table(
    "console_revoked_sessions",
    metadata,
    Column("nonce", String(64), primary_key=True),  # of a console session ended by logging out
    Column("expires_at", Float, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("tenant", String(64)),
    Column("target", String(255)),
    Column("request_id", String(64)),
    Column("details", Text, nullable=False, default="{}"),
    Column("seq", BigInteger),  # 1, 2, 3, ... with no gaps: a missing number is a deleted record
    Column("prev_hash", String(64)),
    Column("hash", String(64)),  # sha256 of prev_hash and this record's content
    Index("ux_audit_log_seq", "seq", unique=True),
)

coze_conversations = Table(
    "coze_conversations",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("external_id", String(255), primary_key=True),
    Column("coze_conversation_id", String(64), nullable=False),
    Column("bot_id", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("user_id", String(255)),  # who the conversation belongs to, when known
    Index("ix_coze_conversations_user", "tenant", "user_id"),
)

transcript_messages = Table(
    "transcript_messages",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("conversation_id", String(255), nullable=False),
    Column("user_id", String(255)),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("source_event", String(255), nullable=False),
    Column("coze_chat_id", String(64)),
    Column("created_at", Float, nullable=False),
    Index("ix_transcript_messages_conversation", "tenant", "conversation_id", "id"),
)

replies = Table(
    "replies",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("source_event", String(255), primary_key=True),
    Column("conversation_id", String(255), nullable=False),
    Column("text", Text, nullable=False),
    Column("coze_chat_id", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
)

coze_chats = Table(  # the Coze chat an event's handling started: a later attempt resumes it, never asks again
    "coze_chats",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("source_event", String(255), primary_key=True),
    Column("coze_conversation_id", String(64), nullable=False),
    Column("chat_id", String(64), nullable=False),
    Column("bot_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # asking (not announced yet) | running | failed
    Column("error", Text),  # why it failed: Coze's code, message and log id
    Column("started_at", Float, nullable=False),
)

context_records = Table(
    "context_records",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("scope", String(16), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("subject", String(255)),
    Column("version", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_context_records_subject", "tenant", "subject"),
)

tenant_config_versions = Table(
    "tenant_config_versions",
    metadata,
    Column("version", _Id, primary_key=True, autoincrement=True),
    Column("document", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("request_id", String(64)),
)

# One row per managed bot: its lifecycle state and what a rollback returns to. ``revision`` makes
# every change a compare-and-set, so replicas never apply two moves from the same state.
bots = Table(
    "bots",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("version", String(64)),
    Column("coze_bot_id", String(64)),
    Column("connectors", Text, nullable=False, default="[]"),
    Column("replicas", Integer, nullable=False, default=1),
    Column("previous", Text),  # JSON: what runs again if the transitional state rolls back
    Column("stable", Text),  # JSON list: releases that passed health probes, most recent last
    Column("published", Text),  # JSON list: releases live on Coze channels
    Column("recovery", String(16), nullable=False),
    Column("fallback_reply", Text, nullable=False),
    Column("deadline_at", Float),
    Column("driver", String(64)),  # the process running the transitional state's side effect
    Column("revision", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

bot_transitions = Table(
    "bot_transitions",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("bot", String(64), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("version", String(64)),
    Column("replicas", Integer, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("detail", Text),
    Column("at", Float, nullable=False),
    Index("ix_bot_transitions_bot", "bot", "id"),
)

# Who probes a bot this interval (one replica claims it) and its consecutive failures, so replicas
# share one count and one canary per interval instead of each probing every bot.
bot_probes = Table(
    "bot_probes",
    metadata,
    Column("bot", String(64), primary_key=True),
    Column("release", String(200), nullable=False),  # counts restart when the release changes
    Column("failures", Integer, nullable=False),
    Column("canary_failures", Integer, nullable=False),
    Column("last_ok_at", Float),
    Column("probed_at", Float, nullable=False),
)

# At most one open incident per bot (a partial unique index), so replicas probing the same bot
# open it once and alert once.
health_incidents = Table(
    "health_incidents",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("bot", String(64), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # open -> recovering -> closed
    Column("reason", Text, nullable=False),
    Column("action", String(16), nullable=False),
    Column("action_result", Text),
    Column("route", Text),  # JSON: how traffic is served while it is open (redirect or fallback)
    Column("last_ok_at", Float),
    Column("opened_at", Float, nullable=False),
    Column("closed_at", Float),
    Column("open_alert_at", Float),
    Column("close_alert_at", Float),
    Index(
        "uq_health_incidents_open_bot",
        "bot",
        unique=True,
        sqlite_where=text("closed_at IS NULL"),
        postgresql_where=text("closed_at IS NULL"),
    ),
)

# Knowledge: per source, a sync lease (one replica syncs it at a time) and its cursor; per document,
# the fingerprint its source reported and the hash of its text; per chunk, its text and metadata
# (the vector index holds the vectors and is rebuilt from here by a re-sync).
knowledge_sources = Table(
    "knowledge_sources",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("lease_owner", String(64)),
    Column("lease_until", Float, nullable=False),
    Column("cursor", Text),  # JSON: how far the running (or interrupted) pass got
    Column("last_summary", Text),  # JSON: counts of the last completed pass
    Column("synced_at", Float),  # when the last completed pass started (its listing)
    Column("requested_at", Float),  # a sync asked for (webhook event); due while later than synced_at
    Column("failures", Integer, nullable=False, server_default="0"),  # passes failed in a row (retry delay)
    Column("failed_at", Float),
)

knowledge_documents = Table(
    "knowledge_documents",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("document", String(512), primary_key=True),
    Column("title", Text, nullable=False),
    Column("fingerprint", String(200), nullable=False),  # what the source says about the version
    Column("content_hash", String(64), nullable=False),
    Column("index_name", String(128), nullable=False),  # the vector collection its chunks are in
    Column("chunks", Integer, nullable=False),
    Column("synced_at", Float, nullable=False),
)

# Every chunk id that may have a vector in the index, written before the vector is: ids here but not
# in knowledge_chunks are vectors of an interrupted pass, deleted by the next one.
knowledge_vectors = Table(
    "knowledge_vectors",
    metadata,
    Column("chunk_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("source", String(64), nullable=False),
    Column("document", String(512), nullable=False),
    Index("ix_knowledge_vectors_source", "tenant", "source"),
)

knowledge_chunks = Table(
    "knowledge_chunks",
    metadata,
    Column("chunk_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("source", String(64), nullable=False),
    Column("document", String(512), nullable=False),
    Column("position", Integer, nullable=False),
    Column("section", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_knowledge_chunks_document", "tenant", "source", "document"),
)
