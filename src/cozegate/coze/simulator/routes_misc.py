"""The current user, the workspaces it belongs to, and files (upload, retrieve)."""

from __future__ import annotations

from cozegate.coze.simulator.context import Simulator
from cozegate.coze.simulator.dispatch import CozeRequest, Endpoint, JsonReply, Reply
from cozegate.coze.simulator.envelopes import CozeCode, CozeError, bad_params, envelope
from cozegate.coze.simulator.multipart import parse_files
from cozegate.coze.simulator.records import FileRecord

MAX_FILE_BYTES = 512 * 1024 * 1024


async def me(call: CozeRequest, sim: Simulator) -> Reply:
    return JsonReply(envelope(sim.config.user.model_dump()))


async def list_workspaces(call: CozeRequest, sim: Simulator) -> Reply:
    page, size = call.int_param("page_num", 1), call.int_param("page_size", 20)
    if page < 1 or not 1 <= size <= 50:
        raise bad_params("page_num must be >= 1 and page_size 1..50")
    workspaces = [
        {
            "id": sim.config.workspace_id,
            "name": sim.config.workspace_name,
            "icon_url": "",
            "role_type": "owner",
            "workspace_type": "personal",
            "enterprise_id": "",
        }
    ]
    return JsonReply(
        envelope({"total_count": len(workspaces), "workspaces": workspaces[(page - 1) * size : page * size]})
    )


async def upload_file(call: CozeRequest, sim: Simulator) -> Reply:
    files = [f for f in parse_files(call.headers.get("content-type", ""), call.raw_body) if f.field == "file"]
    if len(files) != 1:
        raise bad_params("send exactly one file in the multipart field `file`")
    if len(files[0].content) > MAX_FILE_BYTES:
        raise CozeError(4302, "The file exceeds the 512 MB limit")
    record = FileRecord(sim.ids.next(), files[0].filename, files[0].content, sim.clock.now())
    sim.state.files[record.id] = record
    return JsonReply(envelope(record.to_coze()))


async def retrieve_file(call: CozeRequest, sim: Simulator) -> Reply:
    record = sim.state.files.get(call.require_param("file_id"))
    if record is None:
        raise CozeError(CozeCode.NOT_FOUND, "The file does not exist")
    return JsonReply(envelope(record.to_coze()))


ENDPOINTS = (
    Endpoint("users.me", "/v1/users/me", ("GET",), me),
    Endpoint("workspaces.list", "/v1/workspaces", ("GET",), list_workspaces),
    Endpoint("files.upload", "/v1/files/upload", ("POST",), upload_file, json_body=False),
    Endpoint("files.retrieve", "/v1/files/retrieve", ("GET",), retrieve_file),
)
