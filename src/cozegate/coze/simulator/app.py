"""``create_simulator_app``: the Starlette app of one simulator instance (its state lives in ``app.state.sim``)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware

from cozegate.coze.simulator import (
    routes_bots,
    routes_chat,
    routes_conversations,
    routes_knowledge,
    routes_misc,
    routes_oauth,
    routes_workflows,
)
from cozegate.coze.simulator.config import SimulatorConfig
from cozegate.coze.simulator.context import Simulator
from cozegate.coze.simulator.dispatch import Endpoint, routes_for
from cozegate.coze.simulator.middleware import LogidMiddleware
from cozegate.coze.simulator.routes_admin import admin_routes

COZE_ENDPOINTS: tuple[Endpoint, ...] = (
    *routes_chat.ENDPOINTS,
    *routes_conversations.ENDPOINTS,
    *routes_bots.ENDPOINTS,
    *routes_knowledge.ENDPOINTS,
    *routes_workflows.ENDPOINTS,
    *routes_misc.ENDPOINTS,
    *routes_oauth.ENDPOINTS,
)


def create_simulator_app(config: SimulatorConfig | None = None) -> Starlette:
    """A local Coze OpenAPI (the paths, envelopes and event streams cozepy speaks) with scripted bots.

    ``config`` is the scenario (default: the built-in bots and workflows, token ``test-token``).
    """
    sim = Simulator(config or SimulatorConfig())
    app = Starlette(
        routes=[*routes_for(COZE_ENDPOINTS, sim), *admin_routes(sim)],
        middleware=[Middleware(LogidMiddleware, new_logid=sim.ids.logid)],
    )
    app.state.sim = sim
    return app
