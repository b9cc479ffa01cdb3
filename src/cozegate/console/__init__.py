"""The operator web console at ``/console``: server-rendered pages behind an admin-token session."""

from cozegate.console.routes import ConsoleComponents, console_routes

__all__ = ["ConsoleComponents", "console_routes"]
