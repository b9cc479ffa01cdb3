"""Server-side plugin calls: what Coze does when a bot uses a plugin imported from an HTTP service."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from cozegate.coze.simulator.config import PluginCallConfig


@dataclass(frozen=True)
class PluginCallResult:
    name: str
    arguments: dict[str, Any]
    status: int | None  # None: the plugin could not be reached
    body: str


def plugin_arguments(config: PluginCallConfig, user_text: str) -> dict[str, Any]:
    value = user_text
    if config.argument_pattern is not None:
        match = re.search(config.argument_pattern, user_text)
        value = match.group(0) if match else user_text
    return {config.argument: value}


async def call_plugin(
    config: PluginCallConfig, user_text: str, *, bot_id: str, conversation_id: str, logid: str
) -> PluginCallResult:
    arguments = plugin_arguments(config, user_text)
    name = config.name or config.url.rstrip("/").rsplit("/", 1)[-1]
    headers = {
        "X-Tt-Logid": logid,
        "X-AIPlugin-Bot-ID": bot_id,
        "X-AIPlugin-Conversation-ID": conversation_id,
    }
    params: dict[str, str] = {}
    if config.service_token:
        if config.location == "header":
            headers[config.key] = config.service_token
        else:
            params[config.key] = config.service_token
    try:
        async with httpx.AsyncClient(timeout=config.timeout_seconds) as client:
            response = await client.post(config.url, json=arguments, headers=headers, params=params)
    except httpx.HTTPError as exc:
        return PluginCallResult(name, arguments, None, f"{exc.__class__.__name__}: {exc}")
    return PluginCallResult(name, arguments, response.status_code, response.text)
