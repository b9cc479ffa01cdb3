"""An identity provider for tests: real key pairs (RSA, EC P-256, Ed25519), tokens signed with them, and
a JWKS endpoint over loopback HTTP that counts how often it is asked."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ISSUER = "https://iam.example.test"
AUDIENCE = "cozegate"


class SigningKey:
    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.kid = f"{algorithm.lower()}-{uuid.uuid4().hex[:8]}"
        if algorithm == "RS256":
            self.private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk_algorithm: Any = jwt.algorithms.RSAAlgorithm
        elif algorithm == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.jwk_algorithm = jwt.algorithms.ECAlgorithm
        else:
            self.private = ed25519.Ed25519PrivateKey.generate()
            self.jwk_algorithm = jwt.algorithms.OKPAlgorithm

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(self.jwk_algorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def token(self, *, kid: str | None = None, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300,
                  "tenant": "default", "roles": ["user"]}  # fmt: skip
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        headers = {"kid": kid if kid is not None else self.kid}
        return jwt.encode(claims, self.private, algorithm=self.algorithm, headers=headers)


class JwksServer:
    """Serves ``{"keys": [...]}`` at ``/jwks``; ``keys`` can be changed while it runs (rotation)."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.keys = keys
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                body = json.dumps({"keys": [k.public_jwk() for k in owner.keys]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/jwks"

    def start(self) -> JwksServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
