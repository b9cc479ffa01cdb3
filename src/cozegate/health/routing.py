"""``HealthRouting``: how a Coze bot's traffic is served while its incident is open (read on the hot
path, so a plain dict swap; the prober rebuilds it from the open incidents every round)."""

from __future__ import annotations

from collections.abc import Iterable

from cozegate.health.incidents import Incident


class HealthRouting:
    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], dict[str, str]] = {}

    def update(self, open_incidents: Iterable[tuple[str, Incident]]) -> None:
        """``(coze bot id, incident)`` pairs of every open incident with a route (of live bots)."""
        self._routes = {
            (incident.tenant, coze_bot): incident.route for coze_bot, incident in open_incidents if incident.route
        }

    def route(self, tenant: str, coze_bot_id: str) -> tuple[str, str | None]:
        """The bot to ask instead (the same if healthy) and, when the circuit is open, the fallback reply.
        Per tenant: tenants that share a Coze bot do not share its incidents."""
        if not self._routes:
            return coze_bot_id, None
        route = self._routes.get((tenant, coze_bot_id))
        if route is None:
            return coze_bot_id, None
        if "fallback" in route:
            return coze_bot_id, route["fallback"]
        return route.get("redirect_to", coze_bot_id), None

    def snapshot(self) -> dict[tuple[str, str], dict[str, str]]:
        return dict(self._routes)
