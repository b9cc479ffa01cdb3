"""Write N unique signed requests for signed.lua: one line per request,
``<event id> <timestamp> <signature> <conversation id>`` (events spread over ``CONVERSATIONS``)."""

from __future__ import annotations

import argparse
import base64
import secrets
import time
from pathlib import Path

from cozegate.tenants.model import decode_standard_secret
from cozegate.webhooks import sign_standard

BODY = (
    '{{"event_type":"message_create","event_id":"{id}","conversation_id":"{conversation}","user_id":"u1",'
    '"message":{{"role":"user","content":"hello"}}}}'
)
CONVERSATIONS = 100


def body_for(event_id: str, conversation: str = "c1") -> bytes:
    return BODY.format(id=event_id, conversation=conversation).encode()


def generate(path: Path, count: int, secret: str, run_tag: str) -> None:
    key = decode_standard_secret(secret)
    now = int(time.time())
    with path.open("w") as fh:
        for i in range(count):
            event_id, conversation = f"{run_tag}-{i}", f"c{i % CONVERSATIONS}"
            signature = sign_standard(key, event_id, now, body_for(event_id, conversation))
            fh.write(f"{event_id} {now} {signature} {conversation}\n")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--count", type=int, default=600_000)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--tag", default=secrets.token_hex(4))
    args = parser.parse_args()
    generate(args.path, args.count, args.secret, args.tag)
