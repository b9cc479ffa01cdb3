"""Plugins (tools) bots call: the in-process registry (the HTTP plugin SDK grows here)."""

from cozegate.plugins.local_tools import LocalTools, UnknownToolError

__all__ = ["LocalTools", "UnknownToolError"]
