"""Hash chains of audit events: one per use case, and `system` for users, roles and tokens.

Each event's hash covers its content and its predecessor's hash; the chain's length and head
hash are stored apart (`audit_chains`), so an edited, deleted, reordered or truncated event
shows when the chain is verified.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from aims import audit
from aims.persistence.db import begin_writing
from aims.persistence.models import AuditChain, AuditCheckpoint, AuditEvent
from aims.verify_evidence import checkpoint_fault

SYSTEM_CHAIN = "system"


@dataclass(frozen=True)
class NewEvent:
    type: str
    actor: str
    at: dt.datetime
    version: int
    data: dict[str, Any]
    transition_number: int = 0


@dataclass(frozen=True)
class ChainCheck:
    chain_id: str
    verified: bool
    length: int
    head_hash: str
    # The first event (by position) that does not hash, link or count as it should.
    first_broken_seq: int | None
    reason: str | None


# Built once: every transition of every use case appends.
_HEAD = select(AuditChain.length, AuditChain.head_hash).where(AuditChain.chain_id == bindparam("chain_id")).with_for_update()
_ADD_EVENTS = insert(AuditEvent.__table__)
_ADD_HEAD = insert(AuditChain.__table__)
_MOVE_HEAD = update(AuditChain.__table__).where(AuditChain.chain_id == bindparam("b_chain_id"))


def append(session: Session, chain_id: str, events: Sequence[NewEvent], now: dt.datetime) -> None:
    """Append events to a chain (locking its head, so concurrent writers queue up). Plain
    statements, not ORM objects: every transition of every use case comes through here."""
    if not events:
        return
    begin_writing(session)  # the head is read in the transaction that moves it
    connection = session.connection()
    head = connection.execute(_HEAD, {"chain_id": chain_id}).first()
    length, head_hash = (head.length, head.head_hash) if head else (0, audit.GENESIS)
    rows = []
    for event in events:
        length += 1
        digest = audit.event_hash(
            use_case_id=chain_id, seq=length, type=event.type, actor=event.actor, at=event.at, version=event.version,
            data=event.data, prev_hash=head_hash,
        )  # fmt: skip
        rows.append({
            "chain_id": chain_id, "seq": length, "transition_number": event.transition_number, "type": event.type,
            "actor": event.actor, "at": event.at, "version": event.version, "data": event.data,
            "prev_hash": head_hash, "hash": digest,
        })  # fmt: skip
        head_hash = digest
    connection.execute(_ADD_EVENTS, rows)
    moved = {"length": length, "head_hash": head_hash, "updated_at": now}
    if head is None:
        connection.execute(_ADD_HEAD, [{"chain_id": chain_id, **moved}])
    else:
        connection.execute(_MOVE_HEAD, {"b_chain_id": chain_id, **moved})


def events(session: Session, chain_id: str) -> Sequence[AuditEvent]:
    return session.scalars(select(AuditEvent).where(AuditEvent.chain_id == chain_id).order_by(AuditEvent.seq)).all()


def verify(session: Session, chain_id: str, key: Ed25519PublicKey | None = None) -> ChainCheck:
    """Each event hashes and links; the chain ends at its stored head; and it agrees with every
    checkpoint (whose signature is checked when `key` is given)."""
    rows = events(session, chain_id)
    head = session.get(AuditChain, chain_id)
    ok, broken, reason = audit.verify_chain(rows)
    length, head_hash = (head.length, head.head_hash) if head else (0, audit.GENESIS)
    if ok and (len(rows) != length or (rows[-1].hash if rows else audit.GENESIS) != head_hash):
        ok, broken = False, min(len(rows), length) + 1
        reason = f"the chain holds {len(rows)} event(s) but its head says {length} ending in {head_hash[:12]}…"
    if ok:
        hashes = {chain_id: [row.hash for row in rows]}
        for checkpoint in checkpoints(session):
            fault = checkpoint_fault(as_statement(checkpoint), hashes, key)
            if fault:
                ok, reason = False, fault
                break
    return ChainCheck(chain_id, ok, length, head_hash, broken, reason)


def chain_ids(session: Session) -> Sequence[str]:
    return session.scalars(select(AuditChain.chain_id).order_by(AuditChain.chain_id)).all()


def heads(session: Session, chain_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Each chain's length and head hash, ordered by chain id (as checkpoints and manifests list them)."""
    query = select(AuditChain).order_by(AuditChain.chain_id)
    if chain_ids is not None:
        query = query.where(AuditChain.chain_id.in_(chain_ids))
    return [{"id": c.chain_id, "length": c.length, "head_hash": c.head_hash} for c in session.scalars(query)]


# ------------------------------------------------------------ signed checkpoints


def checkpoints(session: Session) -> Sequence[AuditCheckpoint]:
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.at, AuditCheckpoint.id)).all()


def checkpoint_of(session: Session, day: str) -> AuditCheckpoint | None:
    return session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.day == day))


def add_checkpoint(session: Session, *, day: str, at: dt.datetime, chains: list[dict[str, Any]], signature: str,
                   key_id: str) -> AuditCheckpoint:  # fmt: skip
    checkpoint = AuditCheckpoint(day=day, at=at, chains=chains, signature=signature, key_id=key_id)
    session.add(checkpoint)
    return checkpoint


def as_statement(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """A checkpoint as signed and exported: when, every chain's head, the signature."""
    return {"at": audit.iso(checkpoint.at), "chains": checkpoint.chains, "signature": checkpoint.signature,
            "key_id": checkpoint.key_id}  # fmt: skip
