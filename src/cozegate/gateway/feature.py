"""The HTTP APIs for people and programs: ``/admin/*`` (admin token or admin JWT) and ``/v1/*`` (user
JWT), with the chat proxy's rate limits; the JWKS client is closed at stop."""

from __future__ import annotations

from cozegate.compliance.retention import RetentionSchedule
from cozegate.compliance.subject_rights import SubjectRights
from cozegate.conversations.bot_conversation import BotConversations
from cozegate.conversations.store import ConversationStore
from cozegate.gateway.admin_auth import Authenticator
from cozegate.gateway.admin_routes import admin_routes
from cozegate.gateway.bot_routes import bot_routes
from cozegate.gateway.chat_proxy import chat_routes
from cozegate.gateway.config_routes import config_routes
from cozegate.gateway.conversation_routes import conversation_routes
from cozegate.gateway.jwt_auth import JwtVerifier
from cozegate.gateway.knowledge_routes import knowledge_routes
from cozegate.gateway.privacy_routes import privacy_routes
from cozegate.gateway.rollout_routes import rollout_routes
from cozegate.health.incidents import IncidentStore
from cozegate.kernel.feature import Feature
from cozegate.kernel.kernel import Kernel
from cozegate.knowledge.service import KnowledgeService
from cozegate.lifecycle import LifecycleManager
from cozegate.rate_limits import ChatRateLimiter
from cozegate.settings import Settings
from cozegate.tenants.database_source import TenantsDatabaseSource
from cozegate.tenants.reload import TenantsFileReloader


def build_jwt_verifier(settings: Settings) -> JwtVerifier | None:
    if settings.jwt_issuer is None:
        return None
    return JwtVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        jwks_url=settings.jwt_jwks_url,
        keys_file=settings.jwt_keys_file,
        algorithms=settings.jwt_algorithms,
        leeway_seconds=settings.jwt_leeway_seconds,
        tenant_claim=settings.jwt_tenant_claim,
        roles_claim=settings.jwt_roles_claim,
        workspace_claim=settings.jwt_workspace_claim,
        refresh_interval=settings.jwt_jwks_refresh_seconds,
    )


def gateway_feature(kernel: Kernel) -> Feature:
    settings, parts, tenants = kernel.settings, kernel.parts, kernel.tenants
    jwt_verifier = build_jwt_verifier(settings)
    auth = Authenticator(
        kernel.admin_token, jwt_verifier, lambda workspace: tenants.current.tenant_of_workspace(workspace)
    )
    limiter = ChatRateLimiter(
        kernel.buckets,
        tenant_rate=settings.chat_tenant_rate,
        tenant_burst=settings.chat_tenant_burst,
        user_rate=settings.chat_user_rate,
        user_burst=settings.chat_user_burst,
    )
    source = kernel.tenant_source
    reloader = source if isinstance(source, TenantsFileReloader) else None
    database = source if isinstance(source, TenantsDatabaseSource) else None
    routes = [
        *admin_routes(kernel.dead_letters, kernel.inbox, kernel.workers, auth),
        *conversation_routes(parts.get(ConversationStore), auth),
        *privacy_routes(parts.get(SubjectRights), auth, purge=parts.get(RetentionSchedule).purge_now),
        *rollout_routes(tenants, kernel.exposures, auth),
        *config_routes(reloader, database, auth),
        *chat_routes(parts.get(BotConversations), limiter, auth, parts.get(ConversationStore), kernel.audit),
        *bot_routes(parts.get(LifecycleManager), parts.get(IncidentStore), kernel.audit, auth, tenants),
        *knowledge_routes(parts.get(KnowledgeService), kernel.audit, auth, tenants),
    ]
    return Feature("gateway", routes=routes, stop=jwt_verifier.aclose if jwt_verifier is not None else None)
