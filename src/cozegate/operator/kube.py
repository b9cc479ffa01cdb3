"""The little the reconciler needs from Kubernetes, as a protocol.

Four verbs on namespaced objects keep the reconciler independent of any client library: the real
implementation (``kube_api.KubernetesApi``) speaks HTTP to an API server through kubernetes_asyncio,
and tests point that same implementation at a fake API server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Which object: apiVersion, kind, namespace and name."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, manifest: Mapping[str, Any]) -> ObjectRef:
        meta = manifest["metadata"]
        return cls(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


class KubeApiError(Exception):
    """The API server refused (``status`` is its HTTP status; 0 when it could not be reached)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def retryable(self) -> bool:
        """Worth trying again unchanged: the server or network failed, or another writer got there first."""
        return self.status == 0 or self.status >= 500 or self.status in (409, 429)


class KubeApi(Protocol):
    async def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The stored object, or None if there is none."""
        ...

    async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply ``manifest`` as the operator's field manager; the stored object after it."""
        ...

    async def delete(self, ref: ObjectRef, *, uid: str | None = None) -> bool:
        """Delete (background cascade), only if its uid is still ``uid`` when given; False if there was none."""
        ...

    async def patch_status(self, ref: ObjectRef, status: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``status`` into the object's status subresource; the stored object after it."""
        ...
