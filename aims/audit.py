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
    """The hash of one event. `use_case_id` is the chain id (a use case id or `system`): the
    key keeps its first name so that every chain written since the beginning still verifies."""
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


def verify_chain(events: Iterable[Any]) -> tuple[bool, int | None, str | None]:
    """(True, None, None) when every event hashes to its stored hash, links to its predecessor
    and sits at its position; otherwise (False, position of the first broken event, why)."""
    previous = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        recomputed = event_hash(
            use_case_id=event.chain_id,
            seq=event.seq,
            type=event.type,
            actor=event.actor,
            at=event.at,
            version=event.version,
            data=event.data,
            prev_hash=event.prev_hash,
        )
        if event.seq != expected_seq:
            return False, expected_seq, f"event {expected_seq} is missing or out of order (found seq {event.seq})"
        if event.prev_hash != previous:
            return False, expected_seq, f"event {expected_seq} does not link to event {expected_seq - 1}"
        if recomputed != event.hash:
            return False, expected_seq, f"event {expected_seq} was changed after it was written"
        previous = event.hash
    return True, None, None
