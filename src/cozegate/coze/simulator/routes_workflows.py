"""Workflows: run (``data`` is a JSON string), stream_run (``id:``/``event:``/``data:`` events), run histories."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from string import Template
from typing import Any

from cozegate.coze.simulator import bots
from cozegate.coze.simulator.config import WorkflowConfig
from cozegate.coze.simulator.context import Simulator
from cozegate.coze.simulator.dispatch import CozeRequest, Endpoint, JsonReply, Reply, StreamReply, always
from cozegate.coze.simulator.envelopes import CozeCode, CozeError, bad_params, envelope, success
from cozegate.coze.simulator.records import WorkflowRunRecord
from cozegate.coze.simulator.sse import SseEvent, dump_json, workflow_event
from cozegate.coze.simulator.state import token_estimate

RUN_MODES = {"sync": 0, "stream": 1, "async": 2}


def output_text(workflow: WorkflowConfig, parameters: dict[str, Any]) -> str:
    if workflow.template is not None:
        return Template(workflow.template).safe_substitute({k: str(v) for k, v in parameters.items()})
    if "input" in parameters:
        return str(parameters["input"])
    return dump_json(parameters)


def _start(call: CozeRequest, sim: Simulator, mode: str) -> tuple[WorkflowConfig, WorkflowRunRecord]:
    workflow = sim.state.workflow(call.require_field("workflow_id"))
    parameters = call.field("parameters", {})
    if not isinstance(parameters, dict):
        raise bad_params("parameters must be an object")
    bot_id, app_id = call.field("bot_id"), call.field("app_id")
    if bot_id and app_id:
        raise bad_params("bot_id and app_id cannot both be set")
    if bot_id:
        sim.state.bot(str(bot_id))
    text = output_text(workflow, parameters)
    failed = workflow.kind == "fail"
    run = WorkflowRunRecord(
        execute_id=sim.ids.next(),
        workflow_id=workflow.id,
        bot_id=str(bot_id or ""),
        run_mode=RUN_MODES[mode],
        logid=call.logid,
        create_time=sim.clock.now(),
        output="" if failed else dump_json({"output": text}),
        error_code=workflow.error_code if failed else 0,
        error_message=workflow.error_msg if failed else "",
        usage={"input_count": token_estimate(dump_json(parameters)), "output_count": token_estimate(text)},
    )
    run.usage["token_count"] = run.usage["input_count"] + run.usage["output_count"]
    sim.state.workflow_runs[run.execute_id] = run
    return workflow, run


async def run_workflow(call: CozeRequest, sim: Simulator) -> Reply:
    is_async = call.field("is_async", False) is True
    _, run = _start(call, sim, "async" if is_async else "sync")
    if is_async:
        return JsonReply(success(data="", debug_url=run.debug_url, execute_id=run.execute_id, usage=run.usage))
    if run.error_code:
        raise CozeError(run.error_code, run.error_message, debug_url=run.debug_url)
    return JsonReply(success(data=run.output, debug_url=run.debug_url, execute_id=run.execute_id, usage=run.usage))


async def _events(workflow: WorkflowConfig, run: WorkflowRunRecord) -> AsyncIterator[SseEvent]:
    event_id = 0
    if run.error_code:
        yield workflow_event(event_id, "Error", {"error_code": run.error_code, "error_message": run.error_message})
        return
    text = json.loads(run.output)["output"]
    pieces = bots.chunks(text, workflow.words_per_message)
    for seq, piece in enumerate(pieces):
        message = {"content": piece, "node_title": "Message", "node_seq_id": str(seq)}
        yield workflow_event(event_id, "Message", {**message, "node_is_finish": seq == len(pieces) - 1})
        event_id += 1
    end = {"content": run.output, "node_title": "End", "node_seq_id": "0", "node_is_finish": True, "usage": run.usage}
    yield workflow_event(event_id, "Message", end)
    yield workflow_event(event_id + 1, "Done", {"debug_url": run.debug_url})


def workflow_error_event(index: int, code: int, msg: str) -> SseEvent:
    return workflow_event(index, "Error", {"error_code": code, "error_message": msg})


async def stream_workflow(call: CozeRequest, sim: Simulator) -> Reply:
    workflow, run = _start(call, sim, "stream")
    return StreamReply(_events(workflow, run), workflow_error_event)


async def retrieve_run_history(call: CozeRequest, sim: Simulator) -> Reply:
    run = sim.state.workflow_runs.get(call.path_params["execute_id"])
    if run is None or run.workflow_id != call.path_params["workflow_id"]:
        raise CozeError(CozeCode.NOT_FOUND, "The workflow execution does not exist")
    return JsonReply(envelope([run.to_coze(sim.config.user.user_id)]))


ENDPOINTS = (
    Endpoint("workflows.runs.create", "/v1/workflow/run", ("POST",), run_workflow),
    Endpoint("workflows.runs.stream", "/v1/workflow/stream_run", ("POST",), stream_workflow, streams=always),
    Endpoint(
        "workflows.runs.run_histories.retrieve",
        "/v1/workflows/{workflow_id}/run_histories/{execute_id}",
        ("GET",),
        retrieve_run_history,
    ),
)
