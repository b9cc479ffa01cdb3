"""``KubeApi`` on kubernetes_asyncio: server-side apply, get, delete and status patches over HTTP.

kubernetes_asyncio's typed APIs return model objects, one method per kind; the operator works with
plain manifests of six kinds, so it calls ``ApiClient.call_api`` with the REST path of each kind and
asks for ``object`` (the decoded JSON). Authentication, TLS and timeouts stay the library's.

Writes use server-side apply (``application/apply-patch+yaml``, field manager ``cozegate-operator``,
``force``): the API server merges the operator's fields with anyone else's, drops fields the operator
stopped setting, and leaves an unchanged object untouched (no new resourceVersion, no watch event).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException

from cozegate.operator.crd import API_VERSION, KIND, PLURAL
from cozegate.operator.kube import KubeApiError, ObjectRef

FIELD_MANAGER = "cozegate-operator"
APPLY = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"

# (apiVersion, kind) → plural: every kind the operator reads or writes.
PLURALS: dict[tuple[str, str], str] = {
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Service"): "services",
    ("apps/v1", "Deployment"): "deployments",
    ("policy/v1", "PodDisruptionBudget"): "poddisruptionbudgets",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "horizontalpodautoscalers",
    (API_VERSION, KIND): PLURAL,
}


def object_path(ref: ObjectRef) -> str:
    """The REST path of a namespaced object: ``/api/v1/...`` for the core group, ``/apis/<group>/...`` otherwise."""
    try:
        plural = PLURALS[(ref.api_version, ref.kind)]
    except KeyError:
        raise ValueError(f"the operator does not manage {ref.api_version} {ref.kind}") from None
    prefix = "/api/v1" if ref.api_version == "v1" else f"/apis/{ref.api_version}"
    return f"{prefix}/namespaces/{quote(ref.namespace, safe='')}/{plural}/{quote(ref.name, safe='')}"


def _error(exc: ApiException) -> KubeApiError:
    """The API server's Status body (reason, message) when there is one."""
    reason, message = str(exc.reason or "Error"), str(exc.body or exc.reason or "")
    try:
        status = json.loads(exc.body) if exc.body else {}
    except (TypeError, ValueError):
        status = {}
    if isinstance(status, dict) and status.get("kind") == "Status":
        reason, message = str(status.get("reason") or reason), str(status.get("message") or message)
    return KubeApiError(int(exc.status or 0), reason, message)


class KubernetesApi:
    """The ``KubeApi`` protocol on a kubernetes_asyncio ``ApiClient`` (which the caller owns and closes)."""

    def __init__(self, client: ApiClient, *, request_timeout: float = 30.0) -> None:
        self._client = client
        self._timeout = request_timeout

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        query: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        try:
            result = await self._client.call_api(
                path,
                method,
                query_params=query or [],
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                response_types_map={200: "object", 201: "object", 202: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _request_timeout=self._timeout,
            )
        except ApiException as exc:
            raise _error(exc) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise KubeApiError(0, "Unreachable", f"{method} {path}: {exc!r}") from exc
        return result if isinstance(result, dict) else {}

    async def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        try:
            return await self._call("GET", object_path(ref))
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        ref = ObjectRef.of(manifest)
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        return await self._call("PATCH", object_path(ref), body=dict(manifest), content_type=APPLY, query=query)

    async def delete(self, ref: ObjectRef, *, uid: str | None = None) -> bool:
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        try:
            await self._call("DELETE", object_path(ref), body=options)
        except KubeApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def merge_patch(self, ref: ObjectRef, patch: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the object (not its status); the stored object after it."""
        return await self._call("PATCH", object_path(ref), body=dict(patch), content_type=MERGE_PATCH)

    async def patch_status(self, ref: ObjectRef, status: Mapping[str, Any]) -> dict[str, Any]:
        return await self._call(
            "PATCH", object_path(ref) + "/status", body={"status": dict(status)}, content_type=MERGE_PATCH
        )


async def connect(*, kubeconfig: str | None = None, context: str | None = None) -> ApiClient:
    """An ApiClient for the cluster the operator runs in (its service account), else the kubeconfig's.

    The in-cluster loader re-reads the projected service-account token as it rotates.
    """
    configuration = Configuration()
    if kubeconfig is None and context is None:
        try:
            kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return ApiClient(configuration)
        except kube_config.ConfigException:
            pass
    await kube_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    return ApiClient(configuration)
