"""Coze credentials: a personal access token (or service token), or an OAuth JWT app."""

from __future__ import annotations

from pathlib import Path

from cozepy import AsyncJWTAuth, AsyncTokenAuth
from cozepy.auth import Auth
from pydantic import BaseModel, ConfigDict, SecretStr


class CozeCredentials(BaseModel):
    """Exactly one of ``token`` or the JWT app triple (client id, private key file, public key id)."""

    model_config = ConfigDict(frozen=True)

    token: SecretStr | None = None
    jwt_client_id: str | None = None
    jwt_private_key_file: Path | None = None
    jwt_public_key_id: str | None = None

    @property
    def configured(self) -> bool:
        return self.token is not None or self.jwt_client_id is not None

    def build(self, base_url: str) -> Auth:
        if self.token is not None:
            return AsyncTokenAuth(self.token.get_secret_value())
        if self.jwt_client_id and self.jwt_private_key_file and self.jwt_public_key_id:
            return AsyncJWTAuth(
                client_id=self.jwt_client_id,
                private_key=self.jwt_private_key_file.read_text(),
                public_key_id=self.jwt_public_key_id,
                base_url=base_url,
            )
        raise ValueError(
            "no Coze credentials: set COZEGATE_COZE_TOKEN, or COZEGATE_COZE_JWT_CLIENT_ID, "
            "COZEGATE_COZE_JWT_PRIVATE_KEY_FILE and COZEGATE_COZE_JWT_PUBLIC_KEY_ID"
        )
