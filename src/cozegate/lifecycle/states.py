"""The bot lifecycle as data: its states, what moves a bot between them, and which moves are legal.

::

    pending ─deploy─► deploying ─deployed─► running ─scale─► scaling ─scaled─► running
                         │ deploy_failed / timed_out          │ scale_failed / timed_out: previous replicas
                         ▼                                    ▼
            failed (first deploy) or running (the previous version, a redeploy)
    any live state ─terminate─► terminating ─terminated─► terminated (final)
                                    │ terminate_failed / timed_out
                                    ▼
                                  failed (terminate again)

Pure: no I/O. ``LifecycleManager`` persists the moves and runs their side effects.
"""

from __future__ import annotations

from enum import StrEnum


class BotState(StrEnum):
    PENDING = "pending"
    DEPLOYING = "deploying"
    RUNNING = "running"
    SCALING = "scaling"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    FAILED = "failed"


class Trigger(StrEnum):
    DEPLOY = "deploy"
    DEPLOYED = "deployed"
    DEPLOY_FAILED = "deploy_failed"
    SCALE = "scale"
    SCALED = "scaled"
    SCALE_FAILED = "scale_failed"
    TERMINATE = "terminate"
    TERMINATED = "terminated"
    TERMINATE_FAILED = "terminate_failed"
    TIMED_OUT = "timed_out"


TRANSITIONAL = frozenset({BotState.DEPLOYING, BotState.SCALING, BotState.TERMINATING})
FINAL = frozenset({BotState.TERMINATED})
COMMANDS = frozenset({Trigger.DEPLOY, Trigger.SCALE, Trigger.TERMINATE})

# (state, trigger) -> the state it leads to. Deploy rollbacks depend on whether a previous version
# runs, so ``next_state`` takes that as an argument; everything else is the table.
_TABLE: dict[tuple[BotState, Trigger], BotState] = {
    (BotState.PENDING, Trigger.DEPLOY): BotState.DEPLOYING,
    (BotState.RUNNING, Trigger.DEPLOY): BotState.DEPLOYING,
    (BotState.FAILED, Trigger.DEPLOY): BotState.DEPLOYING,
    (BotState.DEPLOYING, Trigger.DEPLOYED): BotState.RUNNING,
    (BotState.RUNNING, Trigger.SCALE): BotState.SCALING,
    (BotState.SCALING, Trigger.SCALED): BotState.RUNNING,
    (BotState.SCALING, Trigger.SCALE_FAILED): BotState.RUNNING,
    (BotState.SCALING, Trigger.TIMED_OUT): BotState.RUNNING,
    (BotState.TERMINATING, Trigger.TERMINATED): BotState.TERMINATED,
    (BotState.TERMINATING, Trigger.TERMINATE_FAILED): BotState.FAILED,
    (BotState.TERMINATING, Trigger.TIMED_OUT): BotState.FAILED,
    **{
        (state, Trigger.TERMINATE): BotState.TERMINATING
        for state in (BotState.PENDING, BotState.DEPLOYING, BotState.RUNNING, BotState.SCALING, BotState.FAILED)
    },
}


class IllegalTransitionError(ValueError):
    """The command is not possible in the bot's current state (the message says which states allow it)."""

    code = "illegal_transition"

    def __init__(self, state: BotState, trigger: Trigger) -> None:
        allowed = {s.value for (s, t) in _TABLE if t == trigger}
        if trigger in (Trigger.DEPLOY_FAILED, Trigger.TIMED_OUT):
            allowed.add(BotState.DEPLOYING.value)
        super().__init__(
            f"cannot {trigger.value} a bot that is {state.value} (possible from: {', '.join(sorted(allowed))})"
        )
        self.state = state
        self.trigger = trigger


def next_state(state: BotState, trigger: Trigger, *, has_previous_version: bool = False) -> BotState:
    """The state ``trigger`` leads to from ``state``, or ``IllegalTransitionError``."""
    if state == BotState.DEPLOYING and trigger in (Trigger.DEPLOY_FAILED, Trigger.TIMED_OUT):
        return BotState.RUNNING if has_previous_version else BotState.FAILED
    target = _TABLE.get((state, trigger))
    if target is None:
        raise IllegalTransitionError(state, trigger)
    return target
