"""Plugins (tools) bots call: the HTTP plugin SDK and the in-process registry of client-side tools.

    from cozegate.plugins import Plugin, ServiceToken, ToolError

See ``plugin.py`` for the decorator, ``server.py`` for the HTTP contract and ``openapi.py`` for what
Coze imports.
"""

from cozegate.plugins.auth import BearerToken, ServiceToken, TokenAuth
from cozegate.plugins.context import ToolCancelled, ToolContext
from cozegate.plugins.local_tools import LocalTools, UnknownToolError
from cozegate.plugins.plugin import NO_AUTH, Plugin, ToolError

__all__ = [
    "NO_AUTH",
    "BearerToken",
    "LocalTools",
    "Plugin",
    "ServiceToken",
    "TokenAuth",
    "ToolCancelled",
    "ToolContext",
    "ToolError",
    "UnknownToolError",
]
