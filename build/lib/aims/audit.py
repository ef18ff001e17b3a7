"""The audit trail's hash chain: canonical JSON, SHA-256, each event linked to the previous one.

The hashing itself lives in `aims.verify_evidence`, the standalone file auditors run, so that
what aims writes and what an auditor checks are one piece of code."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aims.verify_evidence import GENESIS, canonical, event_hash, iso, link_fault

__all__ = ["GENESIS", "as_exported", "canonical", "event_hash", "iso", "verify_chain"]


def verify_chain(events: Iterable[Any]) -> tuple[bool, int | None, str | None]:
    """(True, None, None) when every event hashes to its stored hash, links to its predecessor
    and sits at its position; otherwise (False, position of the first broken event, why)."""
    previous = GENESIS
    for position, event in enumerate(events, start=1):
        fault = link_fault(as_exported(event), position, previous)
        if fault:
            return False, position, fault
        previous = event.hash
    return True, None, None


def as_exported(event: Any) -> dict[str, Any]:
    """An audit event row as an evidence bundle's `events.jsonl` carries it."""
    return {
        "chain": event.chain_id, "seq": event.seq, "type": event.type, "actor": event.actor, "at": iso(event.at),
        "version": event.version, "data": event.data, "prev_hash": event.prev_hash, "hash": event.hash,
    }  # fmt: skip
