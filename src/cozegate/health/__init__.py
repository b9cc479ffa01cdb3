"""Health: ``/healthz`` and ``/readyz``, bot probes with self-healing, incidents and alert channels."""

from cozegate.health.endpoints import health_routes

__all__ = ["health_routes"]
