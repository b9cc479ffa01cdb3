"""Knowledge: datasets (create / list / update / delete / process) and their documents.

Document endpoints answer at the top level (``document_infos``, ``total``), as Coze documents them; cozepy
sends the ``Agw-Js-Conv: str`` header there, which the simulator accepts and ignores.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cozegate.coze.simulator.context import Simulator
from cozegate.coze.simulator.dispatch import CozeRequest, Endpoint, JsonReply, Reply
from cozegate.coze.simulator.envelopes import CozeCode, CozeError, bad_params, envelope, success
from cozegate.coze.simulator.records import DatasetRecord, DocumentRecord

FORMAT_TYPES = (0, 1, 2)
MAX_DOCUMENTS_PER_CALL = 10


async def create_dataset(call: CozeRequest, sim: Simulator) -> Reply:
    name, space_id = call.require_field("name"), call.require_field("space_id")
    format_type = call.field("format_type", 0)
    if format_type not in FORMAT_TYPES:
        raise bad_params("format_type must be 0 (text), 1 (table) or 2 (image)")
    now = sim.clock.now()
    dataset = DatasetRecord(
        dataset_id=sim.ids.next(),
        name=str(name),
        description=str(call.field("description", "")),
        space_id=str(space_id),
        format_type=format_type,
        create_time=now,
        update_time=now,
        icon_file_id=str(call.field("file_id", "")),
    )
    sim.state.datasets[dataset.dataset_id] = dataset
    return JsonReply(envelope({"dataset_id": dataset.dataset_id}))


async def list_datasets(call: CozeRequest, sim: Simulator) -> Reply:
    space_id = call.require_param("space_id")
    name = call.param("name")
    format_type = call.param("format_type")
    page, size = call.int_param("page_num", 1), call.int_param("page_size", 10)
    if page < 1 or not 1 <= size <= 300:
        raise bad_params("page_num must be >= 1 and page_size 1..300")
    datasets = [
        d
        for d in sorted(sim.state.datasets.values(), key=lambda d: int(d.dataset_id), reverse=True)
        if d.space_id == space_id
        and (name is None or name in d.name)
        and (format_type is None or str(d.format_type) == format_type)
    ]
    shown = datasets[(page - 1) * size : page * size]
    owner = sim.config.user.user_id
    listed = [d.to_coze(sim.state.documents_of(d.dataset_id), owner) for d in shown]
    return JsonReply(envelope({"total_count": len(datasets), "dataset_list": listed}))


async def update_dataset(call: CozeRequest, sim: Simulator) -> Reply:
    dataset = sim.state.dataset(call.path_params["dataset_id"])
    dataset.name = str(call.require_field("name"))
    dataset.description = str(call.field("description", ""))
    dataset.icon_file_id = str(call.field("file_id", ""))
    dataset.update_time = sim.clock.now()
    return JsonReply(envelope({}))


async def delete_dataset(call: CozeRequest, sim: Simulator) -> Reply:
    dataset = sim.state.dataset(call.path_params["dataset_id"])
    del sim.state.datasets[dataset.dataset_id]
    for document in sim.state.documents_of(dataset.dataset_id):
        del sim.state.documents[document.document_id]
    return JsonReply(envelope({}))


async def process_dataset(call: CozeRequest, sim: Simulator) -> Reply:
    dataset = sim.state.dataset(call.path_params["dataset_id"])
    document_ids = call.field("document_ids", [])
    if not isinstance(document_ids, list):
        raise bad_params("document_ids must be a list")
    mono = sim.clock.mono()
    progress = []
    for document_id in document_ids:
        document = sim.state.documents.get(str(document_id))
        if document is None or document.dataset_id != dataset.dataset_id:
            raise CozeError(CozeCode.NOT_FOUND, f"The document does not exist: {document_id!r}")
        progress.append(document.progress(mono))
    return JsonReply(envelope({"data": progress}))


def _source(sim: Simulator, source: dict[str, Any]) -> tuple[str, bytes, str, int, str]:
    """(text, raw bytes, file type, source_type, web url) of one document base's ``source_info``."""
    if source.get("file_base64"):
        try:
            raw = base64.b64decode(str(source["file_base64"]), validate=True)
        except (ValueError, binascii.Error) as exc:
            raise bad_params("file_base64 is not valid base64") from exc
        file_type = str(source.get("file_type") or "txt")
        return raw.decode("utf-8", errors="replace"), raw, file_type, 0, ""
    if source.get("web_url"):
        return "", b"", "html", 1, str(source["web_url"])
    if source.get("source_file_id"):
        file = sim.state.files.get(str(source["source_file_id"]))
        if file is None:
            raise CozeError(CozeCode.NOT_FOUND, f"The file does not exist: {source['source_file_id']!r}")
        suffix = file.file_name.rsplit(".", 1)[-1] if "." in file.file_name else "txt"
        return file.content.decode("utf-8", errors="replace"), file.content, suffix, 5, ""
    raise bad_params("source_info needs file_base64+file_type, web_url or source_file_id")


async def create_documents(call: CozeRequest, sim: Simulator) -> Reply:
    dataset = sim.state.dataset(str(call.require_field("dataset_id")))
    bases = call.field("document_bases", [])
    if not isinstance(bases, list) or not 1 <= len(bases) <= MAX_DOCUMENTS_PER_CALL:
        raise bad_params(f"document_bases must hold 1..{MAX_DOCUMENTS_PER_CALL} documents")
    now, ready_at, mono = sim.clock.now(), sim.state.document_ready_at(), sim.clock.mono()
    chunk_strategy = call.json.get("chunk_strategy") if isinstance(call.json.get("chunk_strategy"), dict) else None
    created = []
    for base in bases:
        if not isinstance(base, dict) or not base.get("name") or not isinstance(base.get("source_info"), dict):
            raise bad_params("each document base needs a name and a source_info")
        text, raw, file_type, source_type, web_url = _source(sim, base["source_info"])
        rule = base.get("update_rule")
        rule = rule if isinstance(rule, dict) else {}
        document = DocumentRecord(
            document_id=sim.ids.next(),
            dataset_id=dataset.dataset_id,
            name=str(base["name"]),
            text=text,
            size=len(raw),
            type=file_type,
            source_type=source_type,
            format_type=dataset.format_type,
            create_time=now,
            update_time=now,
            ready_at=ready_at,
            update_type=int(rule.get("update_type") or 0),
            update_interval=int(rule.get("update_interval") or 0),
            web_url=web_url,
            chunk_strategy=chunk_strategy,
        )
        sim.state.documents[document.document_id] = document
        created.append(document.to_coze(mono))
    return JsonReply(success(document_infos=created))


async def update_document(call: CozeRequest, sim: Simulator) -> Reply:
    document = sim.state.documents.get(str(call.require_field("document_id")))
    if document is None:
        raise CozeError(CozeCode.NOT_FOUND, "The document does not exist")
    if isinstance(call.json.get("document_name"), str):
        document.name = call.json["document_name"]
    rule = call.json.get("update_rule")
    if isinstance(rule, dict):
        document.update_type = int(rule.get("update_type") or 0)
        document.update_interval = int(rule.get("update_interval") or 0)
    document.update_time = sim.clock.now()
    return JsonReply(success())


async def delete_documents(call: CozeRequest, sim: Simulator) -> Reply:
    document_ids = call.field("document_ids", [])
    if not isinstance(document_ids, list) or not 1 <= len(document_ids) <= 100:
        raise bad_params("document_ids must hold 1..100 ids")
    for document_id in document_ids:
        sim.state.documents.pop(str(document_id), None)
    return JsonReply(success())


async def list_documents(call: CozeRequest, sim: Simulator) -> Reply:
    dataset = sim.state.dataset(str(call.require_field("dataset_id")))
    page, size = max(1, int(call.field("page", 1))), int(call.field("size", 10))
    if not 1 <= size <= 300:
        raise bad_params("size must be 1..300")
    documents = sorted(sim.state.documents_of(dataset.dataset_id), key=lambda d: int(d.document_id))
    mono = sim.clock.mono()
    shown = [d.to_coze(mono) for d in documents[(page - 1) * size : page * size]]
    return JsonReply(success(document_infos=shown, total=len(documents)))


ENDPOINTS = (
    Endpoint("datasets.create", "/v1/datasets", ("POST",), create_dataset),
    Endpoint("datasets.list", "/v1/datasets", ("GET",), list_datasets),
    Endpoint("datasets.update", "/v1/datasets/{dataset_id}", ("PUT",), update_dataset),
    Endpoint("datasets.delete", "/v1/datasets/{dataset_id}", ("DELETE",), delete_dataset),
    Endpoint("datasets.process", "/v1/datasets/{dataset_id}/process", ("POST",), process_dataset),
    Endpoint("datasets.documents.create", "/open_api/knowledge/document/create", ("POST",), create_documents),
    Endpoint("datasets.documents.update", "/open_api/knowledge/document/update", ("POST",), update_document),
    Endpoint("datasets.documents.delete", "/open_api/knowledge/document/delete", ("POST",), delete_documents),
    Endpoint("datasets.documents.list", "/open_api/knowledge/document/list", ("POST",), list_documents),
)
