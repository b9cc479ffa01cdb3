"""Run the operator: kopf with the cozegate handlers, settings and runtime, in this process."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence

import kopf

from cozegate.operator.config import OperatorConfig
from cozegate.operator.handlers import CHILD_RESOURCES, MEMO_KEY, OperatorRuntime, build_registry, operator_settings

_CHILD_HANDLER_LINES = tuple(f"Handler 'owner-{plural}' succeeded." for _, _, plural in CHILD_RESOURCES)


def _not_routine(record: logging.LogRecord) -> bool:
    """Drop kopf's INFO line for every child event handled without incident (each pod becoming ready
    makes one); changes and failures are logged by the handlers themselves."""
    return not (record.levelno <= logging.INFO and record.getMessage() in _CHILD_HANDLER_LINES)


def quiet_routine_logs() -> None:
    kopf_objects = logging.getLogger("kopf.objects")
    if _not_routine not in kopf_objects.filters:
        kopf_objects.addFilter(_not_routine)


async def operate(
    config: OperatorConfig,
    *,
    namespaces: Sequence[str] = (),
    standalone: bool = True,
    liveness_endpoint: str | None = None,
    runtime: OperatorRuntime | None = None,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
) -> None:
    """Run until stopped (SIGTERM/SIGINT, or ``stop_flag``). No namespaces: the whole cluster.

    ``runtime`` may carry a ready reconciler (tests do); otherwise the start-up handler connects to the
    cluster (service account in a pod, else the kubeconfig).
    """
    runtime = runtime if runtime is not None else OperatorRuntime(config)
    quiet_routine_logs()
    await kopf.operator(
        registry=build_registry(),
        settings=operator_settings(standalone=standalone, instance=socket.gethostname()),
        memo=kopf.Memo({MEMO_KEY: runtime}),
        standalone=standalone,
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        liveness_endpoint=liveness_endpoint,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
    )


def run(
    config: OperatorConfig,
    *,
    namespaces: Sequence[str] = (),
    standalone: bool = True,
    liveness_endpoint: str | None = None,
) -> None:
    """``operate`` in a fresh event loop, for the command line."""
    asyncio.run(operate(config, namespaces=namespaces, standalone=standalone, liveness_endpoint=liveness_endpoint))
