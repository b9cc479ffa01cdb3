"""Prometheus metrics of cozegate. The registry is the one allowed module-level singleton.

Label values are bounded: tenants come from configuration (unknown ones count as ``unknown``),
event types from the handler registry (others count as ``other``), reasons from a fixed set,
HTTP routes from a fixed table of route groups (``observability.http_metrics``).

With several server processes (``COZEGATE_PROCESSES``), ``PROMETHEUS_MULTIPROC_DIR`` is set before this
module is imported: every process then writes its values to files there and ``/metrics`` sums them.
Gauges say how their values combine (``multiprocess_mode``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOK_RECEIVED = Counter("cozegate_webhook_received", "Webhook requests received.", ["tenant"], registry=REGISTRY)
WEBHOOK_ACCEPTED = Counter(
    "cozegate_webhook_accepted",
    "Webhook events durably stored and acknowledged.",
    ["tenant"],
    registry=REGISTRY,
)
WEBHOOK_DUPLICATES = Counter(
    "cozegate_webhook_duplicates", "Webhook events acknowledged as duplicates.", ["tenant"], registry=REGISTRY
)
WEBHOOK_REJECTED = Counter(
    "cozegate_webhook_rejected", "Webhook requests rejected, by error code.", ["reason"], registry=REGISTRY
)
HTTP_REQUESTS = Counter(
    "cozegate_http_requests",
    "HTTP requests answered, by route group, method and status code.",
    ["route", "method", "code"],
    registry=REGISTRY,
)
HTTP_REQUEST_SECONDS = Histogram(
    "cozegate_http_request_duration_seconds",
    "Time from a request's arrival to its last response byte, by route group.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
INBOX_DEPTH = Gauge(
    "cozegate_inbox_depth",
    "Inbox events by status (read from the shared database: every process reports the same numbers).",
    ["status"],
    multiprocess_mode="mostrecent",
    registry=REGISTRY,
)
INBOX_GROUP_COMMIT_SIZE = Histogram(
    "cozegate_inbox_group_commit_size",
    "Events per group commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
    registry=REGISTRY,
)
INBOX_PROCESSING_SECONDS = Histogram(
    "cozegate_inbox_processing_seconds",
    "Handler execution time per attempt.",
    ["event_type", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 180.0),
    registry=REGISTRY,  # handlers time out after 150 s by default (the chat's 120 s and some)
)
INBOX_RETRIES = Counter(
    "cozegate_inbox_retries", "Handler attempts scheduled for retry.", ["event_type"], registry=REGISTRY
)
INBOX_DEAD_LETTERS = Counter(
    "cozegate_inbox_dead_letters", "Events moved to the dead-letter state.", ["event_type"], registry=REGISTRY
)

COZE_CALLS = Counter(
    "cozegate_coze_calls",
    "Coze API calls by endpoint and outcome (ok, error).",
    ["endpoint", "outcome"],
    registry=REGISTRY,
)
COZE_CALL_SECONDS = Histogram(
    "cozegate_coze_call_seconds",
    "Coze API call time per attempt (a stream: to its last event).",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0),  # timeout: 60 s
    registry=REGISTRY,
)
COZE_RETRIES = Counter(
    "cozegate_coze_retries",
    "Coze API attempts retried, by endpoint and reason.",
    ["endpoint", "reason"],
    registry=REGISTRY,
)

PLUGIN_CALLS = Counter(
    "cozegate_plugin_calls",
    "Plugin tool calls by outcome (ok, tool_error, deadline_exceeded, invalid_arguments, bad_request, unauthorized,"
    " forbidden, busy, failed, invalid_output).",
    ["plugin", "tool", "outcome"],
    registry=REGISTRY,
)
PLUGIN_CALL_SECONDS = Histogram(
    "cozegate_plugin_call_seconds",
    "Plugin tool call time, from request to response.",
    ["plugin", "tool"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)

ROLLOUT_EXPOSURES = Counter(
    "cozegate_rollout_exposures",
    "Users routed to a rollout variant (one per message handled).",
    ["tenant", "experiment", "variant"],
    registry=REGISTRY,
)

CONFIG_RELOADS = Counter(
    "cozegate_config_reloads",
    "Configuration changes seen, by outcome (applied, rejected: the last good configuration stays).",
    ["outcome"],
    registry=REGISTRY,
)

BOT_TRANSITIONS = Counter(
    "cozegate_bot_transitions",
    "Bot lifecycle moves, by from-state, to-state and trigger.",
    ["from_state", "to_state", "trigger"],
    registry=REGISTRY,
)

PROBE_SECONDS = Histogram(
    "cozegate_probe_duration_seconds",
    "Health probe latency by check (canary chat, database, redis, reply_url).",
    ["bot", "check"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)

PROBE_FAILURES = Counter(
    "cozegate_probe_failures", "Failed health checks, by bot and check.", ["bot", "check"], registry=REGISTRY
)

INCIDENTS = Counter(
    "cozegate_incidents", "Health incidents opened, by bot and recovery action.", ["bot", "action"], registry=REGISTRY
)

INCIDENTS_OPEN = Gauge(
    "cozegate_incidents_open",
    "Open health incidents, by bot.",
    ["bot"],
    multiprocess_mode="mostrecent",
    registry=REGISTRY,
)

TIME_TO_DETECT = Histogram(
    "cozegate_incident_detect_seconds",
    "From the last passing probe to the incident being opened.",
    ["bot"],
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)

TIME_TO_RECOVER = Histogram(
    "cozegate_incident_recover_seconds",
    "From an incident being opened to the probes that closed it.",
    ["bot"],
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)

ALERTS = Counter(
    "cozegate_alerts",
    "Alerts sent to chat webhooks, by channel kind and outcome.",
    ["kind", "outcome"],
    registry=REGISTRY,
)
KNOWLEDGE_DOCUMENTS = Counter(
    "cozegate_knowledge_documents",
    "Documents seen by knowledge syncs, by outcome (added, updated, unchanged, skipped, deleted).",
    ["tenant", "source", "outcome"],
    registry=REGISTRY,
)
KNOWLEDGE_CHUNKS_EMBEDDED = Counter(
    "cozegate_knowledge_chunks_embedded", "Chunks embedded by knowledge syncs.", ["tenant"], registry=REGISTRY
)
KNOWLEDGE_SYNC_SECONDS = Histogram(
    "cozegate_knowledge_sync_seconds",
    "Duration of a knowledge source's completed sync pass.",
    ["tenant", "source"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
    registry=REGISTRY,
)
KNOWLEDGE_SEARCH_SECONDS = Histogram(
    "cozegate_knowledge_search_seconds",
    "Knowledge search time (query embedding, index, passages), by mode.",
    ["mode"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
