"""The audit log's hash chain: how a record's hash is made and how a chain of records is checked.

Each record carries ``seq`` (1, 2, 3, ... without gaps), the hash of the record before it
(``prev_hash``; the first one points at ``GENESIS``) and its own ``hash`` = sha256(prev_hash, its
canonical content). Editing a record breaks its hash; deleting or reordering records breaks the
sequence or the link to the previous hash. Cutting records off the end leaves a valid shorter chain:
compare the head (last seq and hash, printed by ``cozegate audit verify``) with one kept elsewhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
CONTENT_FIELDS = ("actor", "action", "tenant", "target", "request_id", "details")


def record_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    content = [record["seq"], repr(float(record["at"])), *(record[f] for f in CONTENT_FIELDS)]
    canonical = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    seq: int | None
    record_id: int
    kind: str  # edited | missing | out_of_order | broken_link | unsealed
    message: str


@dataclass(frozen=True)
class ChainReport:
    records: int
    head_seq: int
    head_hash: str
    problems: list[ChainProblem]

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_chain(records: Iterable[Mapping[str, Any]], *, limit: int = 20) -> ChainReport:
    """Check records given in ``seq`` order; report at most ``limit`` problems."""
    problems: list[ChainProblem] = []
    expected_seq, prev_hash, count = 1, GENESIS, 0
    for record in records:
        count += 1
        seq, rid = record["seq"], record["id"]

        def problem(kind: str, message: str, seq: int | None = seq, rid: int = rid) -> None:
            if len(problems) < limit:
                problems.append(ChainProblem(seq, rid, kind, message))

        if seq is None or seq < 1 or record["hash"] is None or record["prev_hash"] is None:
            problem("unsealed", f"record id {rid} has no place in the chain (seq or hash missing)")
            continue
        if seq > expected_seq:
            problem("missing", f"records seq {expected_seq}..{seq - 1} are missing before seq {seq} (deleted)")
        elif seq < expected_seq:
            problem("out_of_order", f"record seq {seq} (id {rid}) comes after seq {expected_seq - 1}: reordered")
        if record["prev_hash"] != prev_hash:
            problem("broken_link", f"record seq {seq} (id {rid}) does not follow the record before it")
        if record_hash(record["prev_hash"], record) != record["hash"]:
            problem("edited", f"record seq {seq} (id {rid}) was changed after it was written")
        expected_seq, prev_hash = seq + 1, record["hash"]
    return ChainReport(count, expected_seq - 1, prev_hash, problems)
