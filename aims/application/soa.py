"""The Statement of Applicability as people use it: read the version in force (with the use
cases that cite each control), propose a new one, decide a proposal. Reads come from the
register; changes go through the SoA workflow after the same checks it applies."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from aims import audit
from aims.application.errors import ServiceError, repeatable
from aims.application.gateway import new_idempotency_key, request_key
from aims.application.service import Caller, refused
from aims.domain import soa
from aims.domain.annex_a import ANNEX_A_CONTROLS
from aims.domain.messages import DECIDE_SOA_UPDATE, PROPOSE_SOA_UPDATE
from aims.domain.state import Refused
from aims.persistence import soa as records
from aims.persistence.db import transaction
from aims.persistence.models import SoaProposal

READERS = frozenset({"aims_owner", "executive", "admin", "auditor", "risk", "privacy", "security", "legal"})


class SoaService(Caller):
    # ------------------------------------------------------------ reads

    def read(self) -> dict[str, Any]:
        """The version in force, control by control with its citations; what waits; the history."""
        with transaction(self.database_url) as session:
            current = records.current(session)
            waiting = records.waiting(session)
            cited = records.citations(session)
            history = [_summary(row) for row in records.history(session)]
            entries = {entry["control"]: entry for entry in (current.entries if current else [])}
        return {
            "version": current.version if current else None,
            "approved_by": current.decided_by if current else None,
            "approved_at": audit.iso(current.decided_at) if current and current.decided_at else None,
            "controls": [
                {"control": control, "title": title, **entries.get(control, {"applicable": None}),
                 "cited_by": cited.get(control, [])}  # fmt: skip
                for control, title in ANNEX_A_CONTROLS.items()
            ],
            "waiting": _summary(waiting) | {"entries": waiting.entries} if waiting else None,
            "history": history,
        }

    def version(self, version: int) -> dict[str, Any]:
        with transaction(self.database_url) as session:
            row = next((r for r in records.history(session) if r.version == version), None)
            if row is None:
                raise ServiceError("not_found", f"no approved version {version} of the Statement of Applicability")
            return _summary(row) | {"entries": row.entries}

    # ------------------------------------------------------------ changes

    async def propose(self, proposal: soa.SoaProposal, idempotency_key: str | None) -> dict[str, Any]:
        """Proposed once per Idempotency-Key: a repeat answers with the proposal it made, not
        with "one at a time" (the waiting proposal is its own)."""
        key = idempotency_key or new_idempotency_key()
        draft, sent = await asyncio.to_thread(self._draft, proposal, request_key(self.user.email, key))
        if not sent:
            await repeatable(self._send_proposal(draft), key)
        return await asyncio.to_thread(self.read)

    async def _send_proposal(self, draft: int) -> None:
        gateway = await self.gateway()
        command = soa.ProposeSoa(actor=self.actor, draft=draft)
        await gateway.soa(PROPOSE_SOA_UPDATE, command, update_id=f"soa-propose:{draft}")

    async def decide(self, number: int, decision: soa.SoaDecision) -> dict[str, Any]:
        """The same decision by the same executive again (a double click, a retry) is the same
        command: it answers with the decision recorded instead of "not waiting"."""
        if not await asyncio.to_thread(self._check_decision, number, decision.decision):
            gateway = await self.gateway()
            command = soa.DecideSoa(actor=self.actor, number=number, decision=decision.decision,
                                    comment=decision.comment)  # fmt: skip
            await gateway.soa(DECIDE_SOA_UPDATE, command, update_id=f"soa-decide:{number}:{self.user.email}")
        return await asyncio.to_thread(self.read)

    def require_may_propose(self) -> None:
        """The AIMS owner proposes, one proposal at a time (the page checks before its form)."""
        with transaction(self.database_url) as session:
            self._check_proposal(session)

    def _check_proposal(self, session: Session) -> None:
        try:
            soa.may_propose(self.actor, _pending(records.waiting(session)))
        except Refused as error:
            raise refused(error) from None

    def _draft(self, proposal: soa.SoaProposal, key: str) -> tuple[int, bool]:
        """The draft's number, and whether its workflow has taken it already (a repeat)."""
        with transaction(self.database_url) as session:
            row = records.of_request(session, key)
            if row is None:
                self._check_proposal(session)
                row = records.add_draft(session, proposal, self.user.email, dt.datetime.now(dt.UTC), key)
            return row.number, row.status != "draft"

    def _check_decision(self, number: int, decision: str) -> bool:
        """Whether this executive's same decision on this proposal is recorded already."""
        with transaction(self.database_url) as session:
            row = records.proposal(session, number)
            if row is not None and row.decided_by == self.user.email and row.status == soa.outcome(decision):
                return True
            try:
                soa.may_decide(self.actor, _pending(records.waiting(session)), number)
            except Refused as error:
                raise refused(error) from None
            return False

def _pending(row: SoaProposal | None) -> soa.PendingSoa | None:
    if row is None or row.proposed_at is None or row.due_at is None:
        return None
    return soa.PendingSoa(number=row.number, proposed_by=row.proposed_by, since=row.proposed_at, due_at=row.due_at,
                          steps=[], level=row.escalation_level)  # fmt: skip


def _summary(row: SoaProposal) -> dict[str, Any]:
    def at(value: dt.datetime | None) -> str | None:
        return audit.iso(value) if value else None

    return {
        "number": row.number, "status": row.status, "version": row.version, "note": row.note,
        "proposed_by": row.proposed_by, "proposed_at": at(row.proposed_at), "due_at": at(row.due_at),
        "escalation_level": row.escalation_level, "decided_by": row.decided_by, "decided_at": at(row.decided_at),
        "comment": row.comment,
    }  # fmt: skip
