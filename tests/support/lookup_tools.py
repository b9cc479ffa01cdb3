"""A client-side tool for the simulator's ``bot-tool`` (loaded by ``COZEGATE_TOOL_MODULES``)."""

from __future__ import annotations

from cozegate.plugins import LocalTools

tools = LocalTools()


@tools.tool("lookup")
async def lookup(query: str) -> str:
    return f"found {len(query.split())} words"
