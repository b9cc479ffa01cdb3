"""Health: liveness and readiness endpoints (bot probes and self-healing grow here)."""

from cozegate.health.endpoints import health_routes

__all__ = ["health_routes"]
