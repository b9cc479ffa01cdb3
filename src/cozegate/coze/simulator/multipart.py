"""Just enough multipart/form-data parsing for ``POST /v1/files/upload`` (stdlib only)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP


@dataclass(frozen=True)
class UploadedFile:
    field: str
    filename: str
    content: bytes


def parse_files(content_type: str, body: bytes) -> list[UploadedFile]:
    """The file parts of a multipart body; an empty list when the body is not multipart."""
    if not content_type.lower().startswith("multipart/form-data"):
        return []
    document = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    files: list[UploadedFile] = []
    for part in document.iter_parts() if document.is_multipart() else []:
        if not isinstance(part, Message):
            continue
        field = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        if isinstance(field, str) and filename is not None and isinstance(payload, bytes):
            files.append(UploadedFile(field, filename, payload))
    return files
