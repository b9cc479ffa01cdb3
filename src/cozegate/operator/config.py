"""What the operator is configured with (by the ``cozegate operator`` command line)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_IMAGE = "ghcr.io/cozegate/cozegate:0.1.0"
DEFAULT_SECRET_NAME = "cozegate-backends"  # noqa: S105 - the name of a Secret, not a secret

# The keys of the user's backends Secret (see deploy/kustomize/base/backends-secret.example.yaml).
SECRET_KEYS = {
    "COZEGATE_DATABASE_URL": "database-url",
    "COZEGATE_REDIS_URL": "redis-url",
    "COZEGATE_COZE_TOKEN": "coze-token",
    "COZEGATE_ADMIN_TOKEN": "admin-token",
    "COZEGATE_PSEUDONYM_KEY": "pseudonym-key",
}
# Optional: a deployment may use an OAuth JWT app or tenants' own Coze tokens, and JWTs for the admin API.
# Replicas must share one pseudonym key, so the Secret should have it (see deploy/README.md).
OPTIONAL_SECRET_KEYS = frozenset({"coze-token", "admin-token", "pseudonym-key"})


@dataclass(frozen=True)
class OperatorConfig:
    """The same for every CozeBot the operator manages.

    ``secret_name`` names a Secret the user creates in each namespace that holds CozeBots; the
    operator only refers to it, so the database and Redis URLs never pass through the operator.
    """

    image: str = DEFAULT_IMAGE
    secret_name: str = DEFAULT_SECRET_NAME
    image_pull_policy: str = "IfNotPresent"
