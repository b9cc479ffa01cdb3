"""Bring one CozeBot's children in line with its spec, and report what happened in its status.

A reconcile reads the CozeBot fresh, then for each desired child: reads it, skips it if it already
holds every desired field, applies it otherwise; a child kind the spec no longer wants (the autoscaler)
is deleted if this CozeBot controls it. The status is written only when it differs, so a reconcile of
an unchanged world writes nothing at all and can run as often as events arrive.

One lock per CozeBot serialises the reconciles that kopf's handlers start for the same bot (its own
change, and events of each of its children); different bots reconcile in parallel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cozegate.operator.config import OperatorConfig
from cozegate.operator.crd import API_VERSION, KIND
from cozegate.operator.kube import KubeApi, KubeApiError, ObjectRef
from cozegate.operator.resources import CHILD_KINDS, DEPLOYMENT, child_name, children, is_subset
from cozegate.operator.spec import CozeBot, InvalidSpec, parse_cozebot
from cozegate.operator.status import Observation, Outcome, desired_status

logger = logging.getLogger("cozegate.operator")


@dataclass(frozen=True)
class ReconcileResult:
    """What one reconcile did: children applied, found up to date, deleted; the status it left."""

    namespace: str
    name: str
    generation: int
    outcome: Outcome
    applied: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    status: dict[str, Any] = field(default_factory=dict)
    status_written: bool = False

    @property
    def wrote(self) -> bool:
        return bool(self.applied or self.deleted or self.status_written)


class ReconcileError(Exception):
    """A reconcile that could not finish; the status already says why.

    ``permanent``: retrying the same spec cannot help (the user must change it); otherwise try again later.
    """

    def __init__(self, message: str, *, permanent: bool, result: ReconcileResult | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.result = result


class ChildConflict(Exception):
    """A child's name is taken by an object this CozeBot does not control: the operator will not take it over."""


def controlled_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("controller") is True and r.get("uid") == uid for r in refs)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    """Reconciles CozeBots through a ``KubeApi``; one instance serves the whole operator."""

    def __init__(self, api: KubeApi, config: OperatorConfig, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._api = api
        self._config = config
        self._clock = clock
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def _locked(self, key: tuple[str, str]) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]  # no one else waits: do not keep a lock per bot ever seen
            else:
                self._locks[key] = (lock, users - 1)

    async def reconcile(self, namespace: str, name: str) -> ReconcileResult | None:
        """Reconcile the CozeBot ``namespace/name``; None if it is gone or being deleted (nothing to do)."""
        async with self._locked((namespace, name)):
            body = await self._api.get(ObjectRef(API_VERSION, KIND, namespace, name))
            if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
                return None
            return await self._reconcile(body)

    async def _reconcile(self, body: Mapping[str, Any]) -> ReconcileResult:
        meta = body["metadata"]
        generation = int(meta.get("generation") or 0)
        paused = (body.get("spec") or {}).get("paused") is True
        try:
            bot = parse_cozebot(body)
        except InvalidSpec as exc:
            deployment = await self._owned_deployment(meta["namespace"], meta["name"], str(meta.get("uid", "")))
            result = await self._finish(body, Observation(generation, paused, "invalid", str(exc), deployment))
            raise ReconcileError(f"invalid spec: {exc}", permanent=True, result=result) from None
        if paused:
            deployment = await self._owned_deployment(bot.namespace, bot.name, bot.uid)
            return await self._finish(body, Observation(generation, True, "paused", deployment=deployment))
        return await self._converge(body, bot)

    async def _converge(self, body: Mapping[str, Any], bot: CozeBot) -> ReconcileResult:
        applied: list[str] = []
        unchanged: list[str] = []
        deleted: list[str] = []
        deployment: Mapping[str, Any] | None = None
        ref = ObjectRef(API_VERSION, KIND, bot.namespace, bot.name)
        try:
            desired = children(bot, self._config)
            for manifest in desired:
                ref = ObjectRef.of(manifest)
                stored = await self._api.get(ref)
                if stored is not None and not controlled_by(stored, bot.uid):
                    raise ChildConflict(f"{ref} exists and is not controlled by this CozeBot; delete or rename it")
                if stored is not None and is_subset(manifest, stored):
                    unchanged.append(str(ref))
                else:
                    stored = await self._api.apply(manifest)
                    applied.append(str(ref))
                if (ref.api_version, ref.kind) == DEPLOYMENT:
                    deployment = stored
            wanted = {(m["apiVersion"], m["kind"]) for m in desired}
            for kind in CHILD_KINDS:
                if kind in wanted:
                    continue
                ref = ObjectRef(kind[0], kind[1], bot.namespace, child_name(bot, kind))
                stored = await self._api.get(ref)
                if stored is None or not controlled_by(stored, bot.uid):
                    continue  # absent, or someone else's: not ours to delete
                if await self._api.delete(ref, uid=stored["metadata"].get("uid")):
                    deleted.append(str(ref))
        except (KubeApiError, ChildConflict) as exc:
            if deployment is None:
                deployment = await self._owned_deployment(bot.namespace, bot.name, bot.uid)
            message = f"{ref}: {exc.message}" if isinstance(exc, KubeApiError) else str(exc)
            result = await self._finish(body, Observation(bot.generation, False, "failed", message, deployment))
            permanent = isinstance(exc, KubeApiError) and exc.status in (400, 422)
            raise ReconcileError(message, permanent=permanent, result=result) from exc
        result = await self._finish(body, Observation(bot.generation, False, "applied", deployment=deployment))
        return ReconcileResult(
            namespace=bot.namespace,
            name=bot.name,
            generation=bot.generation,
            outcome="applied",
            applied=tuple(applied),
            unchanged=tuple(unchanged),
            deleted=tuple(deleted),
            status=result.status,
            status_written=result.status_written,
        )

    async def _owned_deployment(self, namespace: str, name: str, uid: str) -> Mapping[str, Any] | None:
        """The bot's Deployment for its status, if it exists and is the bot's; None if it cannot be read."""
        try:
            stored = await self._api.get(ObjectRef(DEPLOYMENT[0], DEPLOYMENT[1], namespace, name))
        except KubeApiError as exc:
            logger.warning("cannot read Deployment %s/%s for the status: %s", namespace, name, exc)
            return None
        return stored if stored is not None and controlled_by(stored, uid) else None

    async def _finish(self, body: Mapping[str, Any], observation: Observation) -> ReconcileResult:
        """Write the status if it changed. A failed status write is retried through the reconcile's error."""
        meta = body["metadata"]
        previous = body.get("status") or {}
        status = desired_status(previous, observation, self._clock())
        written = False
        if status != {k: previous.get(k) for k in status}:
            ref = ObjectRef(API_VERSION, KIND, meta["namespace"], meta["name"])
            try:
                await self._api.patch_status(ref, status)
                written = True
            except KubeApiError as exc:
                if exc.status != 404:  # a CozeBot deleted meanwhile needs no status
                    if observation.outcome in ("failed", "invalid"):
                        logger.warning("cannot write the status of %s: %s", ref, exc)
                    else:
                        raise ReconcileError(f"status of {ref}: {exc.message}", permanent=False) from exc
        return ReconcileResult(
            namespace=meta["namespace"],
            name=meta["name"],
            generation=observation.generation,
            outcome=observation.outcome,
            status=status,
            status_written=written,
        )
