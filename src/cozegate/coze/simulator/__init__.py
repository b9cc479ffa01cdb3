"""A local Coze OpenAPI simulator: "if cozepy parses it, the simulator speaks Coze".

``create_simulator_app(config)`` returns a Starlette app serving Coze's paths (chat v3 with SSE,
conversations, bots, datasets, workflows, files, users, OAuth JWT) with scripted bots, plus an admin API
under ``/sim/`` for fault injection and the request log. ``cozegate sim`` runs it.
"""

from cozegate.coze.simulator.app import create_simulator_app
from cozegate.coze.simulator.config import (
    BotConfig,
    PluginCallConfig,
    SimulatorConfig,
    WorkflowConfig,
    load_simulator_config,
)

__all__ = [
    "BotConfig",
    "PluginCallConfig",
    "SimulatorConfig",
    "WorkflowConfig",
    "create_simulator_app",
    "load_simulator_config",
]
