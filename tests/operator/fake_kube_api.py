"""A fake Kubernetes API server over real HTTP on loopback, faithful where the operator depends on it.

It keeps objects by (apiVersion, kind, namespace, name) and serves what kubernetes_asyncio and kopf
send: discovery, GET / LIST / WATCH, POST, PUT, PATCH (server-side apply, JSON merge patch, JSON
patch) and DELETE, and the ``/status`` subresource. Like the real server it

- answers errors with ``Status`` bodies (404 NotFound, 409 AlreadyExists / Conflict, 422 Invalid, ...);
- validates every write: built-in kinds with kubernetes_validate (strict: unknown fields are refused),
  custom resources with their CRD's openAPIV3Schema after pruning unknown fields and applying defaults;
- keeps ``status`` out of main-resource writes for kinds with a status subresource, and spec out of
  status writes;
- bumps ``resourceVersion`` only when an object really changes (a no-op apply writes nothing) and
  ``metadata.generation`` only when something outside metadata and status changes;
- merges server-side applies per field manager: fields a manager stops applying are removed, fields
  another manager set conflict (409) unless ``force=true``;
- defaults a few fields (Deployment replicas and pod defaults, a Service's clusterIP) so a client that
  compares what it wants with what is stored meets server additions;
- refuses a change of a Deployment's immutable ``spec.selector``;
- deletes with finalizers honoured (``deletionTimestamp`` first), with preconditions, and collects
  garbage in the background: objects whose owners (by ``ownerReferences`` uid) are all gone are deleted
  a moment later, recursively, unless the owner was deleted with ``propagationPolicy: Orphan``.

Not modelled: RBAC, admission webhooks, CEL rules, list chunking, strategic merge patch, 410 Gone.
"""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.loopback_server import LoopbackServer

K8S_VERSION = "1.32"
Key = tuple[str, str, str, str]  # apiVersion, kind, namespace ("" for cluster-scoped), name
Path = tuple[str, ...]


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    has_status: bool = False
    schema: dict[str, Any] | None = None  # a CRD's openAPIV3Schema; None: a built-in kind

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


BUILTIN_TYPES = (
    ResourceType("", "v1", "ConfigMap", "configmaps"),
    ResourceType("", "v1", "Secret", "secrets"),
    ResourceType("", "v1", "Service", "services", has_status=True),
    ResourceType("", "v1", "Event", "events"),
    ResourceType("", "v1", "Namespace", "namespaces", namespaced=False, has_status=True),
    ResourceType("apps", "v1", "Deployment", "deployments", has_status=True),
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", has_status=True),
    ResourceType("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", has_status=True),
    ResourceType("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False, True),
)


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def body(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    content_type: str

    @property
    def is_write(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Fault:
    """Answer matching requests with an error, ``count`` times."""

    method: str
    path_contains: str
    code: int
    count: int = 1


@dataclass
class _Managers:
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)  # manager → last applied configuration
    updated: dict[str, set[Path]] = field(default_factory=dict)  # manager → leaf paths it wrote by update/patch


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def leaf_paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Paths to every non-dict value (lists are atomic, as with ``x-kubernetes-list-type: atomic``)."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from leaf_paths(v, (*prefix, k))
    else:
        yield prefix


def get_path(obj: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def remove_path(obj: dict[str, Any], path: Path) -> None:
    parents = [obj]
    for part in path[:-1]:
        nxt = parents[-1].get(part)
        if not isinstance(nxt, dict):
            return
        parents.append(nxt)
    parents[-1].pop(path[-1], None)
    for depth in range(len(parents) - 1, 0, -1):  # drop emptied maps, as the server does
        if not parents[depth]:
            parents[depth - 1].pop(path[depth - 1], None)


def deep_merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for k, v in overlay.items():
            merged[k] = deep_merge(base.get(k), v)
        return merged
    return copy.deepcopy(overlay)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def json_patch(target: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902: add, remove, replace, test (what kopf sends)."""
    doc = copy.deepcopy(target)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        last = parts[-1] if parts else ""
        kind = op["op"]
        if kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op["value"]:
                raise ApiError(422, "Invalid", f"test operation failed at {op['path']}")
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(op["value"])
                elif kind == "add":
                    parent.insert(int(last), op["value"])
                else:
                    parent[int(last)] = op["value"]
            else:
                parent[last] = op["value"]
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            else:
                parent.pop(last, None)
        else:
            raise ApiError(422, "Invalid", f"unsupported JSON patch op {kind}")
    return doc


def matches_selector(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def prune_and_default(schema: dict[str, Any], value: Any) -> Any:
    """What the API server does to a custom resource before validation: unknown fields go, defaults come."""
    if not isinstance(value, dict) or schema.get("type") != "object":
        if isinstance(value, list) and "items" in schema:
            return [prune_and_default(schema["items"], v) for v in value]
        return value
    props: dict[str, Any] = schema.get("properties") or {}
    if schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in schema:
        result = dict(value)
    else:
        result = {k: v for k, v in value.items() if k in props}
    for name, sub in props.items():
        if name in result:
            if name == "metadata" and "properties" not in sub:
                continue
            result[name] = result[name] if name == "metadata" else prune_and_default(sub, result[name])
        elif "default" in sub:
            result[name] = copy.deepcopy(sub["default"])
    return result


class FakeKubeApi:
    """The object store and the API semantics; thread-safe (the server thread and the test both use it)."""

    def __init__(self, *, gc_delay: float = 0.05) -> None:
        self._lock = threading.RLock()
        self.types: dict[tuple[str, str], ResourceType] = {}  # (apiVersion, plural) → type
        self.objects: dict[Key, dict[str, Any]] = {}
        self.managers: dict[Key, _Managers] = {}
        self.log: list[tuple[int, str, ResourceType, dict[str, Any]]] = []  # (rv, event type, type, object)
        self.requests: list[RequestRecord] = []
        self.faults: list[Fault] = []
        self.revision = 100
        self.gc_delay = gc_delay
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        for t in BUILTIN_TYPES:
            self.types[(t.api_version, t.plural)] = t

    # --- types ---------------------------------------------------------------------------------------

    def type_of(self, api_version: str, kind: str) -> ResourceType:
        for t in self.types.values():
            if t.api_version == api_version and t.kind == kind:
                return t
        raise ApiError(404, "NotFound", f"the server could not find the requested resource ({api_version} {kind})")

    def _register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        for version in spec["versions"]:
            t = ResourceType(
                group=spec["group"],
                version=version["name"],
                kind=spec["names"]["kind"],
                plural=spec["names"]["plural"],
                namespaced=spec["scope"] == "Namespaced",
                has_status="status" in (version.get("subresources") or {}),
                schema=version["schema"]["openAPIV3Schema"],
            )
            self.types[(t.api_version, t.plural)] = t
            self._validators[t.api_version + "/" + t.kind] = jsonschema.Draft202012Validator(t.schema or {})

    # --- reading -------------------------------------------------------------------------------------

    def key(self, t: ResourceType, namespace: str | None, name: str) -> Key:
        return (t.api_version, t.kind, (namespace or "") if t.namespaced else "", name)

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self._lock:
            t = self.type_of(api_version, kind)
            found = self.objects.get(self.key(t, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None, selector: str = ""
    ) -> list[dict[str, Any]]:
        with self._lock:
            t = self.type_of(api_version, kind)
            return self._list(t, namespace, selector)

    def _list(self, t: ResourceType, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        items = []
        for (api_version, kind, ns, _), obj in sorted(self.objects.items()):
            if (api_version, kind) != (t.api_version, t.kind) or (namespace and ns != namespace):
                continue
            if selector and not matches_selector(obj["metadata"].get("labels") or {}, selector):
                continue
            items.append(copy.deepcopy(obj))
        return items

    def writes(self, path_contains: str = "") -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.is_write and path_contains in r.path]

    # --- validation ----------------------------------------------------------------------------------

    def _validate(self, t: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        if t.schema is not None:
            obj = prune_and_default(t.schema, obj)
            errors = sorted(self._validators[t.api_version + "/" + t.kind].iter_errors(obj), key=str)
            if errors:
                where = ".".join(str(p) for p in errors[0].absolute_path)
                raise ApiError(
                    422, "Invalid", f'{t.kind} "{obj["metadata"].get("name")}" is invalid: {where}: {errors[0].message}'
                )
            return obj
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            raise ApiError(
                422, "Invalid", f'{t.kind} "{obj["metadata"].get("name")}" is invalid: {where}: {exc.message}'
            ) from None
        return obj

    @staticmethod
    def _default(t: ResourceType, obj: dict[str, Any]) -> None:
        spec = obj.get("spec")
        if t.kind == "Deployment" and isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            spec.setdefault("progressDeadlineSeconds", 600)
            pod = (spec.get("template") or {}).get("spec") or {}
            pod.setdefault("restartPolicy", "Always")
            pod.setdefault("dnsPolicy", "ClusterFirst")
            for container in pod.get("containers") or []:
                container.setdefault("terminationMessagePath", "/dev/termination-log")
        if t.kind == "Service" and isinstance(spec, dict):
            spec.setdefault("clusterIP", f"10.96.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}")
            spec.setdefault("sessionAffinity", "None")

    # --- writing -------------------------------------------------------------------------------------

    def _bump(self) -> str:
        self.revision += 1
        return str(self.revision)

    def _record(self, event: str, t: ResourceType, obj: dict[str, Any]) -> None:
        self.log.append((self.revision, event, t, copy.deepcopy(obj)))

    def create(self, t: ResourceType, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            obj = copy.deepcopy(body)
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + secrets.token_hex(3)
            if not meta.get("name"):
                raise ApiError(422, "Invalid", "metadata.name: Required value")
            obj.setdefault("apiVersion", t.api_version)  # the server takes the type from the URL when absent
            obj.setdefault("kind", t.kind)
            if obj["apiVersion"] != t.api_version or obj["kind"] != t.kind:
                raise ApiError(400, "BadRequest", f"the body is not a {t.api_version} {t.kind}")
            if t.namespaced:
                if meta.get("namespace") not in (None, namespace):
                    raise ApiError(400, "BadRequest", "the namespace of the body does not match the URL")
                meta["namespace"] = namespace
            key = self.key(t, namespace, meta["name"])
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f'{t.plural}.{t.group or "core"} "{meta["name"]}" already exists')
            for server_owned in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp", "managedFields"):
                meta.pop(server_owned, None)
            if t.has_status:
                obj.pop("status", None)
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
            self._default(t, obj)
            obj = self._validate(t, obj)
            obj["metadata"]["resourceVersion"] = self._bump()
            self.objects[key] = obj
            if t.kind == "CustomResourceDefinition":
                self._register_crd(obj)
            self._record("ADDED", t, obj)
            return copy.deepcopy(obj)

    def _store(self, t: ResourceType, key: Key, new: dict[str, Any], *, status_only: bool = False) -> dict[str, Any]:
        """Write ``new`` over the stored object (server-owned fields kept); no-op if nothing changes."""
        old = self.objects[key]
        new = copy.deepcopy(new)
        meta = new.setdefault("metadata", {})
        for kept in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "name", "namespace"):
            if kept in old["metadata"]:
                meta[kept] = old["metadata"][kept]
            else:
                meta.pop(kept, None)
        if status_only:
            new = {**copy.deepcopy(old), "status": new.get("status")}
            if new["status"] is None:
                new.pop("status")
        elif t.has_status:
            new.pop("status", None)
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
        if t.kind == "Deployment" and get_path(new, ("spec", "selector")) != get_path(old, ("spec", "selector")):
            raise ApiError(
                422,
                "Invalid",
                f'Deployment.apps "{meta["name"]}" is invalid: spec.selector: Invalid value: field is immutable',
            )
        self._default(t, new)
        new = self._validate(t, new)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]

        def essence(o: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in o.items() if k not in ("metadata", "status")}

        if new == old:
            return copy.deepcopy(old)  # nothing changed: no write, no event, same resourceVersion
        if essence(new) != essence(old):
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        new["metadata"]["resourceVersion"] = self._bump()
        self.objects[key] = new
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._remove(t, key)
        self._record("MODIFIED", t, new)
        return copy.deepcopy(new)

    def replace(self, t: ResourceType, key: Key, body: dict[str, Any], manager: str) -> dict[str, Any]:
        with self._lock:
            old = self._existing(t, key)
            expected = (body.get("metadata") or {}).get("resourceVersion")
            if expected and expected != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    "the object has been modified; please apply your changes to the latest version and try again",
                )
            self._note_update(key, manager, body)
            return self._store(t, key, body)

    def patch(
        self, t: ResourceType, key: Key, content_type: str, raw: bytes, query: dict[str, str], subresource: str | None
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            manager = query.get("fieldManager", "unknown")
            if content_type.startswith("application/apply-patch"):
                if subresource:
                    raise ApiError(415, "UnsupportedMediaType", "apply to a subresource is not supported here")
                return self._apply(t, key, yaml.safe_load(raw), manager, query.get("force") in ("true", "True", "1"))
            old = self._existing(t, key)
            patch = json.loads(raw)
            if content_type.startswith("application/merge-patch+json"):
                new = merge_patch(old, patch)
            elif content_type.startswith("application/json-patch+json"):
                new = json_patch(old, patch)
                patch = {}
            else:
                raise ApiError(415, "UnsupportedMediaType", f"the patch type {content_type} is not supported")
            if subresource == "status":
                if not t.has_status:
                    raise ApiError(404, "NotFound", f"{t.plural} has no status subresource")
                return 200, self._store(t, key, new, status_only=True)
            self._note_update(key, manager, patch)
            return 200, self._store(t, key, new)

    def _note_update(self, key: Key, manager: str, written: dict[str, Any]) -> None:
        paths = {p for p in leaf_paths(written) if p and p[0] not in ("status", "apiVersion", "kind")}
        managers = self.managers.setdefault(key, _Managers())
        managers.updated.setdefault(manager, set()).update(paths)

    def _owned_by_others(self, key: Key, manager: str) -> dict[str, set[Path]]:
        managers = self.managers.get(key, _Managers())
        owned: dict[str, set[Path]] = {}
        for name, config in managers.applied.items():
            if name != manager:
                owned[name] = set(leaf_paths(config))
        for name, paths in managers.updated.items():
            if name != manager:
                owned.setdefault(name, set()).update(paths)
        return owned

    def _apply(self, t: ResourceType, key: Key, config: Any, manager: str, force: bool) -> tuple[int, dict[str, Any]]:
        if not isinstance(config, dict):
            raise ApiError(400, "BadRequest", "an apply patch must be an object")
        if manager == "unknown":
            raise ApiError(400, "BadRequest", "PATCH requests with an apply patch require fieldManager")
        meta = config.get("metadata") or {}
        if (config.get("apiVersion"), config.get("kind")) != (t.api_version, t.kind) or meta.get("name") != key[3]:
            raise ApiError(400, "BadRequest", "the apply patch names another object than the URL")
        config = copy.deepcopy(config)
        for server_owned in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
            config["metadata"].pop(server_owned, None)
        if t.has_status:
            config.pop("status", None)
        managers = self.managers.setdefault(key, _Managers())
        if key not in self.objects:
            created = self.create(t, key[2] or None, config)
            managers.applied[manager] = config
            return 201, created
        old = self.objects[key]
        others = self._owned_by_others(key, manager)
        wanted = set(leaf_paths(config))
        for other, paths in others.items():
            clashes = {p for p in wanted & paths if p[:1] != ("metadata",) or len(p) > 2}
            clashes = {p for p in clashes if get_path(old, p) != get_path(config, p)}
            if clashes and not force:
                fields = ", ".join(".".join(p) for p in sorted(clashes))
                raise ApiError(409, "Conflict", f'Apply failed with 1 conflict: conflict with "{other}": {fields}')
            if clashes:
                if other in managers.applied:
                    for p in clashes:
                        remove_path(managers.applied[other], p)
                managers.updated.get(other, set()).difference_update(clashes)
        new = copy.deepcopy(old)
        still_owned = set().union(*others.values()) if others else set()
        for path in set(leaf_paths(managers.applied.get(manager, {}))) - wanted - still_owned:
            if path:
                remove_path(new, path)
        new = deep_merge(new, config)
        stored = self._store(t, key, new)
        managers.applied[manager] = config
        return 200, stored

    def _existing(self, t: ResourceType, key: Key) -> dict[str, Any]:
        found = self.objects.get(key)
        if found is None:
            raise ApiError(404, "NotFound", f'{t.plural}.{t.group or "core"} "{key[3]}" not found')
        return found

    def delete(self, t: ResourceType, key: Key, options: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            obj = self._existing(t, key)
            pre = (options or {}).get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f"Precondition failed: UID in precondition: {pre['uid']}, "
                    f"UID in object meta: {obj['metadata']['uid']}",
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", "Precondition failed: resourceVersion")
            orphan = (options or {}).get("propagationPolicy") == "Orphan"
            if obj["metadata"].get("finalizers"):
                if not obj["metadata"].get("deletionTimestamp"):
                    marked = copy.deepcopy(obj)
                    marked["metadata"]["deletionTimestamp"] = _now()
                    marked["metadata"]["resourceVersion"] = self._bump()
                    self.objects[key] = marked
                    self._record("MODIFIED", t, marked)
                    return copy.deepcopy(marked)
                return copy.deepcopy(obj)
            removed = self._remove(t, key, orphan=orphan)
            return {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": key[3], "kind": t.plural, "uid": removed["metadata"]["uid"]},
            }

    def _remove(self, t: ResourceType, key: Key, *, orphan: bool = False) -> dict[str, Any]:
        obj = self.objects.pop(key)
        self.managers.pop(key, None)
        obj["metadata"]["resourceVersion"] = self._bump()
        self._record("DELETED", t, obj)
        uid = obj["metadata"]["uid"]
        if orphan:
            for other_key, other in list(self.objects.items()):
                refs = other["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    kept = [r for r in refs if r.get("uid") != uid]
                    updated = copy.deepcopy(other)
                    updated["metadata"]["ownerReferences"] = kept
                    if not kept:
                        updated["metadata"].pop("ownerReferences")
                    self._store(self.type_of(other_key[0], other_key[1]), other_key, updated)
        else:
            timer = threading.Timer(self.gc_delay, self.collect_garbage)
            timer.daemon = True
            timer.start()
        return obj

    def collect_garbage(self) -> int:
        """Delete every object whose owners are all gone (repeatedly, for chains). Returns how many."""
        collected = 0
        with self._lock:
            while True:
                uids = {o["metadata"]["uid"] for o in self.objects.values()}
                orphans = [
                    k
                    for k, o in self.objects.items()
                    if (refs := o["metadata"].get("ownerReferences"))
                    and not any(r.get("uid") in uids for r in refs)
                    and not o["metadata"].get("deletionTimestamp")  # held by a finalizer: already marked
                ]
                if not orphans:
                    return collected
                for k in orphans:
                    self.delete(self.type_of(k[0], k[1]), k)
                    collected += 1

    # --- test helpers --------------------------------------------------------------------------------

    def install(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create any object directly (CRDs, namespaces, CozeBots) as a client would with POST."""
        t = self.type_of(obj["apiVersion"], obj["kind"])
        return self.create(t, obj["metadata"].get("namespace"), obj)

    def update_status(self, api_version: str, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        """What a controller (the Deployment controller, say) does: merge into the status subresource."""
        t = self.type_of(api_version, kind)
        key = self.key(t, namespace, name)
        with self._lock:
            old = self._existing(t, key)
            self._store(t, key, merge_patch(old, {"status": status}), status_only=True)

    def merge(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        manager: str = "kubectl-edit",
    ) -> dict[str, Any]:
        """What a person with ``kubectl edit`` does."""
        t = self.type_of(api_version, kind)
        return self.patch(
            t,
            self.key(t, namespace, name),
            "application/merge-patch+json",
            json.dumps(patch).encode(),
            {"fieldManager": manager},
            None,
        )[1]

    def remove(self, api_version: str, kind: str, namespace: str, name: str, **options: Any) -> None:
        t = self.type_of(api_version, kind)
        self.delete(t, self.key(t, namespace, name), options)


class FakeKubeServer:
    """``FakeKubeApi`` served by uvicorn in a thread on a free loopback port (as tests/support/sim_server.py)."""

    def __init__(self, api: FakeKubeApi | None = None) -> None:
        self.api = api or FakeKubeApi()
        self.closing = False
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])
        self._server = LoopbackServer(app, graceful_seconds=2)  # open watches end at shutdown

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> FakeKubeServer:
        self._server.start_serving()
        return self

    def stop(self) -> None:
        self.closing = True
        self._server.stop_serving()

    def kubeconfig(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
            "current-context": "fake",
        }

    # --- HTTP ----------------------------------------------------------------------------------------

    def _route(self, path: str) -> tuple[ResourceType | None, str | None, str | None, str | None, Any]:
        """(type, namespace, name, subresource, discovery answer) for a request path."""
        parts = [p for p in path.split("/") if p]
        if parts == ["version"]:
            return None, None, None, None, {"major": "1", "minor": "32", "gitVersion": "v1.32.0"}
        if parts == ["api"]:
            return None, None, None, None, {"kind": "APIVersions", "versions": ["v1"]}
        if parts == ["apis"]:
            return None, None, None, None, self._groups()
        if parts[:1] == ["api"] and len(parts) >= 2:
            api_version, rest = parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            api_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return None, None, None, None, self._resources(api_version)
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and (api_version, rest[2]) in self.api.types:
            namespace, rest = rest[1], rest[2:]
        t = self.api.types.get((api_version, rest[0]))
        if t is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        return t, namespace, name, sub, None

    def _groups(self) -> dict[str, Any]:
        versions: dict[str, list[str]] = {}
        for t in self.api.types.values():
            if t.group:
                versions.setdefault(t.group, [])
                if t.version not in versions[t.group]:
                    versions[t.group].append(t.version)
        groups = [
            {
                "name": g,
                "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
            }
            for g, vs in sorted(versions.items())
        ]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resources(self, api_version: str) -> dict[str, Any]:
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        resources: list[dict[str, Any]] = []
        for t in self.api.types.values():
            if t.api_version != api_version:
                continue
            resources.append(
                {
                    "name": t.plural,
                    "singularName": t.singular,
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": verbs,
                }
            )
            if t.has_status:
                resources.append(
                    {
                        "name": f"{t.plural}/status",
                        "singularName": "",
                        "namespaced": t.namespaced,
                        "kind": t.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        if not resources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version, "resources": resources}

    def _fault(self, method: str, path: str) -> ApiError | None:
        with self.api._lock:
            for fault in self.api.faults:
                if fault.count > 0 and fault.method == method and fault.path_contains in path:
                    fault.count -= 1
                    return ApiError(fault.code, "InternalError" if fault.code >= 500 else "Injected", "injected fault")
        return None

    async def _handle(self, request: Request) -> Response:
        path, method = request.url.path, request.method
        query = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        with self.api._lock:
            self.api.requests.append(RequestRecord(method, path, query, content_type))
        try:
            injected = self._fault(method, path)
            if injected is not None:
                raise injected
            t, namespace, name, sub, discovery = self._route(path)
            if discovery is not None:
                return JSONResponse(discovery)
            assert t is not None
            if t.namespaced and name is not None and namespace is None:
                raise ApiError(404, "NotFound", "a namespaced object needs a namespace in the path")
            raw = await request.body()
            if method == "GET" and name is None and query.get("watch") in ("true", "1"):
                return StreamingResponse(self._watch(t, namespace, query), media_type="application/json")
            if method == "GET" and name is None:
                items = self.api._list(t, namespace, query.get("labelSelector", ""))
                return JSONResponse(
                    {
                        "kind": f"{t.kind}List",
                        "apiVersion": t.api_version,
                        "metadata": {"resourceVersion": str(self.api.revision), "continue": ""},
                        "items": items,
                    }
                )
            if method == "POST" and name is None:
                return JSONResponse(self.api.create(t, namespace, json.loads(raw)), status_code=201)
            if name is None:
                raise ApiError(405, "MethodNotAllowed", f"{method} needs an object name")
            key = self.api.key(t, namespace, name)
            if method == "GET":
                with self.api._lock:
                    return JSONResponse(copy.deepcopy(self.api._existing(t, key)))
            if method == "PUT":
                body = json.loads(raw)
                if sub == "status":
                    with self.api._lock:
                        self.api._existing(t, key)
                        return JSONResponse(self.api._store(t, key, body, status_only=True))
                return JSONResponse(self.api.replace(t, key, body, query.get("fieldManager", "unknown")))
            if method == "PATCH":
                code, obj = self.api.patch(t, key, content_type, raw, query, sub)
                return JSONResponse(obj, status_code=code)
            if method == "DELETE":
                options = json.loads(raw) if raw else {}
                if query.get("propagationPolicy"):
                    options["propagationPolicy"] = query["propagationPolicy"]
                return JSONResponse(self.api.delete(t, key, options))
            raise ApiError(405, "MethodNotAllowed", method)
        except ApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.code)
        except (ValueError, yaml.YAMLError) as exc:
            return JSONResponse(ApiError(400, "BadRequest", f"cannot decode the body: {exc}").body(), status_code=400)

    async def _watch(self, t: ResourceType, namespace: str | None, query: dict[str, str]) -> AsyncIterator[bytes]:
        since = int(query.get("resourceVersion") or 0)
        selector = query.get("labelSelector", "")
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 3600)
        while not self.closing and time.monotonic() < deadline:
            with self.api._lock:
                events = [
                    (rv, kind, obj)
                    for rv, kind, et, obj in self.api.log
                    if rv > since
                    and et.api_version == t.api_version
                    and et.kind == t.kind
                    and (not namespace or obj["metadata"].get("namespace") == namespace)
                    and (not selector or matches_selector(obj["metadata"].get("labels") or {}, selector))
                ]
                top = self.api.revision
            for _, kind, obj in events:
                yield json.dumps({"type": kind, "object": obj}).encode() + b"\n"
            since = max(since, top)
            await asyncio.sleep(0.02)


def serve(setup: Callable[[FakeKubeApi], None] | None = None) -> FakeKubeServer:
    server = FakeKubeServer()
    if setup is not None:
        setup(server.api)
    return server.start()
