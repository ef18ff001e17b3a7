"""The audit trail's hash chain: canonical JSON, SHA-256, each event linked to the previous one."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any

GENESIS = "0" * 64


def iso(instant: dt.datetime) -> str:
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(
    *, use_case_id: str, seq: int, type: str, actor: str, at: dt.datetime, version: int, data: Any, prev_hash: str
) -> str:
    content = {
        "use_case_id": use_case_id,
        "seq": seq,
        "type": type,
        "actor": actor,
        "at": iso(at),
        "version": version,
        "data": data,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical(content)).hexdigest()


def verify_chain(events: Iterable[Any]) -> tuple[bool, int | None]:
    """(True, None) when every event hashes to its stored hash and links to its predecessor;
    otherwise (False, seq of the first broken event)."""
    previous = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        recomputed = event_hash(
            use_case_id=event.use_case_id,
            seq=event.seq,
            type=event.type,
            actor=event.actor,
            at=event.at,
            version=event.version,
            data=event.data,
            prev_hash=event.prev_hash,
        )
        if event.seq != expected_seq or event.prev_hash != previous or recomputed != event.hash:
            return False, event.seq
        previous = event.hash
    return True, None
