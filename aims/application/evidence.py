"""Evidence bundles: audit chains as a signed zip that an auditor verifies offline with
`verify_evidence.py` and the organisation's public key (format in `aims.verify_evidence`).

A bundle holds each chain up to the head it had when the export began (later events wait for
the next export), every signed checkpoint, and a manifest signed with the organisation's key.
Every export is itself an event on the system chain, with the manifest's SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import select

from aims import audit
from aims.domain import trail
from aims.persistence import chains
from aims.persistence.db import transaction
from aims.persistence.models import AuditEvent
from aims.signing import SigningKey
from aims.verify_evidence import CHECKPOINTS, EVENTS, FORMAT, MANIFEST, SIGNATURE, canonical

_BATCH = 2000


@dataclass(frozen=True)
class Exported:
    manifest_sha256: str
    chains: int
    events: int


def write_bundle(
    target: IO[bytes], database_url: str, *, chain_ids: Sequence[str] | None, scope: dict[str, Any], exported_by: str,
    key: SigningKey, now: dt.datetime,
) -> Exported:  # fmt: skip
    """Write the bundle of `chain_ids` (every chain when None) to `target`, then record the export."""
    with transaction(database_url) as session, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as bundle:
        heads = chains.heads(session, chain_ids)
        events_digest, count, period = hashlib.sha256(), 0, [None, None]
        with bundle.open(EVENTS, "w") as events_file:
            for head in heads:
                for event in _events(session, head["id"], head["length"]):
                    line = canonical(audit.as_exported(event)) + b"\n"
                    events_file.write(line)
                    events_digest.update(line)
                    count += 1
                    period[0] = min(period[0] or event.at, event.at)
                    period[1] = max(period[1] or event.at, event.at)
        checkpoints = canonical([chains.as_statement(c) for c in chains.checkpoints(session)])
        bundle.writestr(CHECKPOINTS, checkpoints)
        manifest = json.dumps(
            {
                "format": FORMAT,
                "scope": scope,
                "exported_by": exported_by,
                "exported_at": audit.iso(now),
                "period": {"from": audit.iso(period[0]) if period[0] else None,
                           "to": audit.iso(period[1]) if period[1] else None},  # fmt: skip
                "chains": heads,
                "files": {EVENTS: events_digest.hexdigest(), CHECKPOINTS: hashlib.sha256(checkpoints).hexdigest()},
                "public_key_sha256": key.key_id,
            },
            indent=2,
            sort_keys=True,
        ).encode()
        bundle.writestr(MANIFEST, manifest)
        bundle.writestr(SIGNATURE, key.sign(manifest))
    exported = Exported(hashlib.sha256(manifest).hexdigest(), len(heads), count)
    with transaction(database_url) as session:
        event = chains.NewEvent(
            type="evidence_exported", actor=exported_by, at=now, version=0,
            data={"scope": scope, "manifest_sha256": exported.manifest_sha256, "chains": exported.chains,
                  "events": exported.events},
        )  # fmt: skip
        chains.append(session, chains.SYSTEM_CHAIN, [event], now)
    return exported


def record_generated(database_url: str, *, kind: str, digest: str, by: str, now: dt.datetime, **data: Any) -> None:
    """A document made from the records (evidence pack, report) is itself on the system chain."""
    with transaction(database_url) as session:
        event = chains.NewEvent(type=f"{kind}_generated", actor=by, at=now, version=0, data={"sha256": digest, **data})
        chains.append(session, chains.SYSTEM_CHAIN, [event], now)


def evidence_pack(session: Any, use_case_id: str) -> dict[str, Any]:
    """Everything an auditor asks about one use case, from its audit chain: every intake version
    and its classification, assessments, decisions, sign-offs, reviews, incidents, suspensions,
    decommission, the whole timeline, and whether the chain verifies."""
    check = chains.verify(session, use_case_id)
    pack: dict[str, Any] = {
        "use_case_id": use_case_id, "versions": [], "assessments": [], "decisions": [], "signoffs": [],
        "reviews": {}, "incidents": {}, "suspensions": [], "decommission": {}, "timeline": [],
        "chain": {"verified": check.verified, "length": check.length, "head_hash": check.head_hash,
                  "reason": check.reason},
    }  # fmt: skip
    for event in chains.events(session, use_case_id):
        who = {"by": event.actor, "at": audit.iso(event.at), "version": event.version}
        data = event.data or {}
        pack["timeline"].append({"seq": event.seq, "type": event.type, "what": trail.describe(event.type, data), **who})
        if event.type in ("intake_submitted", "intake_revised"):
            pack["versions"].append({**who, "intake": data.get("intake"), "classification": None})
        elif event.type == "classified" and pack["versions"]:
            pack["versions"][-1]["classification"] = data.get("classification")
        elif event.type == "assessment_submitted":
            pack["assessments"].append({**who, "assessment": data.get("assessment")})
        elif event.type == "gate_decided":
            pack["decisions"].append({**who, **data})
        elif event.type == "signed_off":
            pack["signoffs"].append({**who, "signoff": data.get("signoff")})
        elif event.type.startswith("review_") and "review" in data:
            review = pack["reviews"].setdefault(data["review"], {"number": data["review"]})
            review[event.type.removeprefix("review_")] = {**who, **data}
        elif event.type == "incident_reported":
            pack["incidents"][data["number"]] = {**who, **data}
        elif event.type == "incident_triaged":
            pack["incidents"].setdefault(data["incident"], {"number": data["incident"]})["triage"] = {**who, **data}
        elif event.type in ("suspended", "suspension_lifted"):
            pack["suspensions"].append({**who, "type": event.type, "reason": data.get("reason")})
        elif event.type.startswith("decommission_"):
            pack["decommission"][event.type.removeprefix("decommission_")] = {**who, **data}
    pack["reviews"] = [pack["reviews"][number] for number in sorted(pack["reviews"])]
    pack["incidents"] = [pack["incidents"][number] for number in sorted(pack["incidents"])]
    return pack


def _events(session: Any, chain_id: str, length: int):
    """A chain's events up to `length`, in batches (a whole AIMS does not fit in memory at once)."""
    after = 0
    while after < length:
        batch = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.chain_id == chain_id, AuditEvent.seq > after, AuditEvent.seq <= length)
            .order_by(AuditEvent.seq)
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        after = batch[-1].seq
        session.expunge_all()
