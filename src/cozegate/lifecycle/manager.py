"""``LifecycleManager``: the commands (register, deploy, scale, terminate), the side effects that
finish a transitional state, and the timeouts that roll one back.

A command stores its move first (so a crash cannot lose it), then a background task runs the side
effect and stores the outcome. After a restart ``resume()`` runs the side effect again (publishing,
scaling and withdrawing are idempotent) or, past the deadline, rolls the state back. ``tick()``
rolls back every transitional state whose deadline passed, whichever replica started it: the
compare-and-set on the bot's revision lets exactly one replica win each move.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from cozegate.lifecycle.actuator import Actuator
from cozegate.lifecycle.hooks import LifecycleHooks
from cozegate.lifecycle.live_releases import LiveReleases
from cozegate.lifecycle.model import DEFAULT_FALLBACK, STABLE_KEPT, BotRecord, Recovery, Release, Transition
from cozegate.lifecycle.states import TRANSITIONAL, BotState, Trigger, next_state
from cozegate.lifecycle.store import BotStore
from cozegate.observability import metrics

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "lifecycle"
CLEANUP_SECONDS = 10.0
HOOK_SECONDS = 10.0  # a hook may take this long; a slower one is cancelled and logged
STALE_BEATS = 6  # a side effect whose beat is this many intervals old is taken over (30 s by default)


class BotNotFoundError(LookupError):
    code = "bot_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"no bot named {name!r}; create it first (PUT /admin/bots/{name} or `cozegate bots create`)")


class ConcurrentChangeError(RuntimeError):
    code = "concurrent_change"

    def __init__(self, name: str) -> None:
        super().__init__(f"bot {name!r} was changed by someone else at the same moment; read it and try again")


@dataclass(frozen=True)
class Timeouts:
    """Seconds a transitional state may last before it is rolled back."""

    deploying: float = 90.0
    scaling: float = 120.0
    terminating: float = 60.0

    def of(self, state: BotState) -> float:
        return {BotState.DEPLOYING: self.deploying, BotState.SCALING: self.scaling}.get(state, self.terminating)


_OUTCOMES = {
    BotState.DEPLOYING: (Trigger.DEPLOYED, Trigger.DEPLOY_FAILED),
    BotState.SCALING: (Trigger.SCALED, Trigger.SCALE_FAILED),
    BotState.TERMINATING: (Trigger.TERMINATED, Trigger.TERMINATE_FAILED),
}


class LifecycleManager:
    def __init__(
        self,
        store: BotStore,
        actuator: Actuator,
        *,
        timeouts: Timeouts | None = None,
        hooks: LifecycleHooks | None = None,
        clock: Callable[[], float] = time.time,
        heartbeat_seconds: float = 5.0,
        exclusive: bool = False,
    ) -> None:
        """``exclusive``: this process is the only one on the database (embedded mode), so at start it
        carries on every transitional state at once instead of waiting for their beats to go stale."""
        self.store = store
        self._heartbeat = heartbeat_seconds
        self._exclusive = exclusive
        self.driver_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.hooks = hooks or LifecycleHooks()
        self.live = LiveReleases()
        self.timeouts = timeouts or Timeouts()
        self._actuator = actuator
        self._clock = clock
        self._drives: dict[str, asyncio.Task[None]] = {}

    # -- commands -------------------------------------------------------------------------------
    async def register(
        self,
        name: str,
        tenant: str,
        *,
        recovery: Recovery = Recovery.CIRCUIT_BREAK,
        fallback_reply: str = DEFAULT_FALLBACK,
        actor: str,
    ) -> BotRecord:
        """Create the bot (``pending``) or update how it recovers; the same definition again changes nothing."""
        existing = await self.store.get(name)
        now = self._clock()
        if existing is None:
            bot = BotRecord(
                name, tenant, BotState.PENDING, None, 1, None, (), (), recovery, fallback_reply, None, 1, now, now
            )
            if await self.store.create(bot, actor):
                log.info("bot %s created for tenant %s", name, tenant, extra={"actor": actor})
                return bot
            existing = await self.store.get(name)
            assert existing is not None
        if existing.tenant != tenant:
            raise ValueError(f"bot {name!r} belongs to tenant {existing.tenant!r}; bots do not move between tenants")
        if (existing.recovery, existing.fallback_reply) == (recovery, fallback_reply):
            return existing
        changed = existing.moved(recovery=recovery, fallback_reply=fallback_reply, updated_at=now)
        if not await self.store.save(changed, existing.revision):
            raise ConcurrentChangeError(name)
        return changed.moved(revision=existing.revision + 1)

    async def deploy(self, name: str, release: Release, *, actor: str) -> BotRecord:
        """Publish ``release``; deploying the version that is already live (or on its way) is a no-op."""

        async def attempt() -> BotRecord:
            bot = await self.require(name)
            if bot.state in (BotState.DEPLOYING, BotState.RUNNING, BotState.SCALING) and release.same_as(bot.release):
                return bot
            running = bot.state == BotState.RUNNING and bot.release is not None
            previous = replace(bot.release, replicas=bot.replicas) if running and bot.release else None
            return await self._move(
                bot, Trigger.DEPLOY, actor, release=replace(release, replicas=bot.replicas), previous=previous
            )

        return await self._command(attempt)

    async def scale(self, name: str, replicas: int, *, actor: str) -> BotRecord:
        if replicas < 0:
            raise ValueError("replicas must be 0 or more")

        async def attempt() -> BotRecord:
            bot = await self.require(name)
            if bot.state in (BotState.RUNNING, BotState.SCALING) and bot.replicas == replicas:
                return bot
            previous = replace(bot.release, replicas=bot.replicas) if bot.release else None
            return await self._move(bot, Trigger.SCALE, actor, replicas=replicas, previous=previous)

        return await self._command(attempt)

    async def terminate(self, name: str, *, actor: str) -> BotRecord:
        """Withdraw everything the bot published; terminating a terminated (or terminating) bot is a no-op."""

        async def attempt() -> BotRecord:
            bot = await self.require(name)
            if bot.state in (BotState.TERMINATING, BotState.TERMINATED):
                return bot
            self._cancel_drive(name)
            return await self._move(bot, Trigger.TERMINATE, actor, previous=None)

        return await self._command(attempt)

    async def _command(self, attempt: Callable[[], Awaitable[BotRecord]]) -> BotRecord:
        """Run a command; if the bot changed under it, read it again once (the same command that won
        meanwhile then answers as a no-op)."""
        try:
            bot = await attempt()
        except ConcurrentChangeError:
            bot = await attempt()
        if bot.deadline_at is not None and bot.name not in self._drives:
            self._start_drive(bot)  # a no-op answer leaves a running side effect alone
        return bot

    async def mark_stable(self, name: str, probed: Release) -> None:
        """The health prober saw ``probed`` answer: remember it as a release to roll back to, if it is
        still the running one (a release deployed during the probe has not been probed)."""
        bot = await self.store.get(name)
        if bot is None or bot.state != BotState.RUNNING or not probed.same_as(bot.release):
            return
        if bot.stable and probed.same_as(bot.stable[-1]):
            return
        kept = tuple(r for r in bot.stable if not probed.same_as(r))[-(STABLE_KEPT - 1) :]
        await self.store.save(bot.moved(stable=(*kept, probed), updated_at=self._clock()), bot.revision)

    # -- deadlines and restarts -----------------------------------------------------------------
    async def refresh_live(self) -> None:
        """Read which release of every bot is live now (also other replicas' moves)."""
        self.live.refresh(await self.store.all())

    async def tick(self) -> list[BotRecord]:
        """Roll back every transitional state past its deadline, and carry on those whose driver (another
        replica) stopped beating; returns the bots that were rolled back."""
        moved = []
        now = self._clock()
        stale_before = now - STALE_BEATS * self._heartbeat
        for bot in await self.store.in_transition():
            if bot.deadline_at is not None and bot.deadline_at <= now:
                self._cancel_drive(bot.name)
                timeout = self.timeouts.of(bot.state)
                detail = f"{bot.state.value} took longer than {timeout:g} s"
                after = await self._roll_back(bot, Trigger.TIMED_OUT, detail)
                if after is not None:
                    moved.append(after)
            elif (
                bot.name not in self._drives
                and bot.updated_at < stale_before
                and await self.store.take_over(bot, self.driver_id, now)
            ):
                log.warning("bot %s: its %s was left by a stopped process; carrying it on", bot.name, bot.state)
                self._start_drive(bot.moved(updated_at=now))
        return moved

    async def resume(self) -> None:
        """At start: finish what a stopped process left in a transitional state, or roll it back. With
        other replicas around, only states whose driver stopped beating are taken over (``tick``)."""
        rolled_back = await self.tick()
        await self.refresh_live()  # traffic follows the live releases from the first event
        for bot in await self.store.in_transition() if self._exclusive else []:
            if bot.name not in self._drives and await self.store.take_over(bot, self.driver_id, self._clock()):
                log.info("bot %s was %s when the last process stopped: carrying on", bot.name, bot.state.value)
                self._start_drive(bot)
        for bot in rolled_back:
            log.warning("bot %s: rolled back to %s after a restart past its deadline", bot.name, bot.state.value)

    async def supervise(self, interval: float = 1.0) -> None:
        """Run ``tick`` forever (a background task of the server), and follow which releases are live."""
        while True:
            try:
                await self.tick()
                await self.refresh_live()
            except Exception:
                log.exception("lifecycle deadline check failed; retrying in %.0f s", interval)
            await asyncio.sleep(interval)

    async def settled(self, name: str) -> BotRecord:
        """Wait until the bot is out of its transitional state (callers bound the wait)."""
        while True:
            bot = await self.require(name)
            if bot.state not in TRANSITIONAL:
                return bot
            await asyncio.sleep(0.02)

    def drives(self) -> dict[str, asyncio.Task[None]]:
        """The side effects running in this process, by bot (a snapshot)."""
        return dict(self._drives)

    async def close(self) -> None:
        for name in list(self._drives):
            self._cancel_drive(name)

    # -- internals ------------------------------------------------------------------------------
    async def require(self, name: str) -> BotRecord:
        bot = await self.store.get(name)
        if bot is None:
            raise BotNotFoundError(name)
        return bot

    async def _move(
        self, bot: BotRecord, trigger: Trigger, actor: str, detail: str | None = None, **changes: object
    ) -> BotRecord:
        """Store one legal move (raises ``IllegalTransitionError`` / ``ConcurrentChangeError``) and fire hooks."""
        target = next_state(bot.state, trigger, has_previous_version=bot.previous is not None)
        now = self._clock()
        deadline = now + self.timeouts.of(target) if target in TRANSITIONAL else None
        moved = bot.moved(state=target, deadline_at=deadline, updated_at=now, **changes)
        transition = Transition(bot.name, bot.state, target, trigger, actor, now, moved.version, moved.replicas, detail)
        if not await self.store.save(moved, bot.revision, transition, driver=self.driver_id):
            raise ConcurrentChangeError(bot.name)
        moved = moved.moved(revision=bot.revision + 1)
        metrics.BOT_TRANSITIONS.labels(bot.state.value, target.value, trigger.value).inc()
        log.info(
            "bot %s: %s -> %s (%s)", bot.name, bot.state.value, target.value, trigger.value, extra={"actor": actor}
        )
        await self.hooks.fire(replace(transition, record=moved), limit_seconds=HOOK_SECONDS)
        await self.refresh_live()  # this process routes by the move at once
        return moved

    def _start_drive(self, bot: BotRecord) -> None:
        if bot.state not in TRANSITIONAL:
            return
        self._cancel_drive(bot.name)
        task = asyncio.create_task(self._drive(bot), name=f"lifecycle-{bot.name}")
        self._drives[bot.name] = task
        task.add_done_callback(lambda t: self._drives.pop(bot.name, None) if self._drives.get(bot.name) is t else None)

    def _cancel_drive(self, name: str) -> None:
        task = self._drives.pop(name, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _drive(self, bot: BotRecord) -> None:
        """Run the side effect of the bot's transitional state and store its outcome."""
        succeeded, failed = _OUTCOMES[bot.state]
        assert bot.deadline_at is not None
        beating = asyncio.create_task(self._beat(bot, asyncio.current_task()), name=f"lifecycle-beat-{bot.name}")
        try:
            async with asyncio.timeout(max(bot.deadline_at - self._clock(), 0.0)):
                detail = await self._side_effect(bot)
        except TimeoutError:
            return  # ``tick`` rolls it back: one place decides timeouts, on the shared clock
        except Exception as exc:
            log.warning("bot %s: %s failed: %s", bot.name, bot.state.value, exc)
            current = await self._same_episode(bot)
            if current is not None:
                await self._roll_back(current, failed, f"{exc.__class__.__name__}: {exc}")
            return
        finally:
            beating.cancel()
        for _ in range(3):  # an unrelated change (a new recovery policy) only bumps the revision: retry
            current = await self._same_episode(bot)
            if current is None:
                await self._compensate(bot)
                return
            try:
                await self._move(current, succeeded, SYSTEM_ACTOR, detail, **self._outcome(current))
                return
            except ConcurrentChangeError:
                continue
        log.warning("bot %s: could not store the outcome of %s; its deadline decides", bot.name, bot.state.value)

    async def _beat(self, bot: BotRecord, drive: asyncio.Task[None] | None) -> None:
        """Tell other replicas this side effect is alive (else ``tick`` there carries it on); stop the
        side effect if another process took it over meanwhile (two would publish twice)."""
        while True:
            try:
                async with asyncio.timeout(self._heartbeat):
                    alive = await self.store.touch(bot, self.driver_id, self._clock())
            except Exception as exc:
                log.warning("bot %s: heartbeat failed: %s", bot.name, exc.__class__.__name__)
                alive = True
            if not alive:
                if await self._same_episode(bot) is not None:
                    log.warning("bot %s: another process took over its %s; stopping here", bot.name, bot.state)
                    if drive is not None:
                        drive.cancel()
                return
            await asyncio.sleep(self._heartbeat)

    @staticmethod
    def _outcome(bot: BotRecord) -> dict[str, object]:
        """What a finished side effect changes besides the state."""
        changes: dict[str, object] = {"previous": None}
        if bot.state == BotState.DEPLOYING and bot.release is not None:
            others = tuple(r for r in bot.published if r.coze_bot_id != bot.release.coze_bot_id)
            changes["published"] = (*others, bot.release)
        elif bot.state == BotState.TERMINATING:
            changes["published"] = ()
        return changes

    async def _compensate(self, bot: BotRecord) -> None:
        """A publish finished after its deploy was rolled back or terminated elsewhere: take it off the
        channels again unless the bot now serves that same Coze bot."""
        if bot.state != BotState.DEPLOYING or bot.release is None:
            return
        current = await self.store.get(bot.name)
        serving: set[str] = set()
        if current is not None and current.state in (BotState.DEPLOYING, BotState.RUNNING, BotState.SCALING):
            serving = {r.coze_bot_id for r in current.published}
            if current.release is not None:
                serving.add(current.release.coze_bot_id)
        if bot.release.coze_bot_id in serving:
            return
        log.warning("bot %s: withdrawing %s, published after its deploy had ended", bot.name, bot.release.version)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLEANUP_SECONDS):
                await self._actuator.withdraw(bot.tenant, bot.release)

    async def _same_episode(self, bot: BotRecord) -> BotRecord | None:
        """The bot as stored now, if it is still in the transitional state this drive started from (an
        unrelated change such as a new recovery policy only bumps the revision)."""
        current = await self.store.get(bot.name)
        if current is None or (current.state, current.deadline_at) != (bot.state, bot.deadline_at):
            return None
        return current

    async def _side_effect(self, bot: BotRecord) -> str | None:
        if bot.state == BotState.DEPLOYING:
            assert bot.release is not None
            published = await self._actuator.publish(bot.tenant, bot.release)
            return f"published to {', '.join(bot.release.connectors)} (Coze version {published})"
        if bot.state == BotState.SCALING:
            await self._actuator.scale(bot, bot.replicas)
            return f"{bot.replicas} replicas"
        releases = list(bot.published)  # and a release a deploy may have published before it was cut short
        if bot.release is not None and all(r.coze_bot_id != bot.release.coze_bot_id for r in releases):
            releases.append(bot.release)
        for release in releases:
            await self._actuator.withdraw(bot.tenant, release)
        if not releases:
            return "nothing was published"
        return "withdrawn: " + ", ".join(f"{r.version} ({r.coze_bot_id})" for r in releases)

    async def _roll_back(self, bot: BotRecord, trigger: Trigger, detail: str) -> BotRecord | None:
        """Move back (None if another replica moved the bot first), then undo what the transitional
        state may have done. The move comes first so that only the replica that won it cleans up: a
        clean-up by a loser could withdraw a deploy that had just succeeded."""
        changes: dict[str, object] = {"previous": None}
        withdraw: Release | None = None
        if bot.state == BotState.DEPLOYING and bot.release is not None:
            if bot.previous is not None:
                changes["release"] = bot.previous
            if not any(r.coze_bot_id == bot.release.coze_bot_id for r in bot.published):
                withdraw = bot.release  # a Coze bot only this deploy published: take it off the channels again
        if bot.state == BotState.SCALING and bot.previous is not None:
            changes["replicas"] = bot.previous.replicas
        try:
            moved = await self._move(bot, trigger, SYSTEM_ACTOR, detail, **changes)
        except ConcurrentChangeError:
            return None
        try:
            async with asyncio.timeout(CLEANUP_SECONDS):
                if withdraw is not None:
                    await self._actuator.withdraw(bot.tenant, withdraw)
                elif bot.state == BotState.SCALING and bot.previous is not None:
                    await self._actuator.scale(moved, bot.previous.replicas, wait=False)
        except Exception as exc:
            log.error("bot %s: clean-up after %s failed: %s: %s", bot.name, trigger.value, exc.__class__.__name__, exc)
        return moved
