"""Logging (JSON, request ids), Prometheus metrics."""

from cozegate.observability.logging import configure_logging, request_id_var

__all__ = ["configure_logging", "request_id_var"]
