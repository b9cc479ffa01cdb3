"""``Simulator``: everything one simulator instance owns (no module-level state anywhere)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cozegate.coze.simulator.auth import Authenticator
from cozegate.coze.simulator.config import SimulatorConfig
from cozegate.coze.simulator.faults import FaultBook
from cozegate.coze.simulator.ids import Clock, IdGenerator
from cozegate.coze.simulator.requests_log import RequestLog
from cozegate.coze.simulator.state import SimState


@dataclass
class Simulator:
    config: SimulatorConfig
    clock: Clock = field(default_factory=Clock)
    ids: IdGenerator = field(default_factory=IdGenerator)
    state: SimState = field(init=False)
    faults: FaultBook = field(init=False)
    auth: Authenticator = field(init=False)
    log: RequestLog = field(init=False)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Back to the scenario's initial state: fresh store, the scenario's faults, an empty request log."""
        self.state = SimState(self.config, self.ids, self.clock)
        self.faults = FaultBook()
        for spec in self.config.faults:
            self.faults.add(spec)
        self.auth = Authenticator(self.config.tokens, self.config.oauth, self.clock)
        self.log = RequestLog(self.config.request_log_limit)
