"""The operator web console at ``/console``: server-rendered pages behind an admin-token session."""

from cozegate.console.routes import ConsoleParts, console_routes

__all__ = ["ConsoleParts", "console_routes"]
