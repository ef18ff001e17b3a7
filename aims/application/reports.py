"""The management review as people use it: the report from live data, and the decisions an
executive records on it (each decision with an action starts a corrective action)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError

from aims import audit
from aims.application.errors import ServiceError
from aims.application.gateway import new_idempotency_key, request_key
from aims.application.nonconformities import NonconformityService
from aims.application.service import Caller, refused
from aims.domain import management_review as review
from aims.domain import nonconformity as nc
from aims.domain.state import Refused
from aims.persistence import chains, queries, reports
from aims.persistence.db import transaction


class ReportService(Caller):
    def management_review(self, start: dt.date | None, end: dt.date | None, policy_version: str) -> dict[str, Any]:
        self._require(review.may_read)
        try:
            since, until = review.period(start, end, dt.datetime.now(dt.UTC).date())
        except ValueError as error:
            raise ServiceError("invalid", str(error), field="from") from None
        with transaction(self.database_url) as session:
            stalled = queries.stalled(session)
            return reports.management_review(session, since, until, stalled) | {"policy_version": policy_version}

    def reviews(self) -> list[dict[str, Any]]:
        self._require(review.may_read)
        with transaction(self.database_url) as session:
            return [
                {"number": r.number, "status": r.status, "period_from": audit.iso(r.period_from),
                 "period_to": audit.iso(r.period_to), "due_at": audit.iso(r.due_at) if r.due_at else None,
                 "held_at": audit.iso(r.held_at) if r.held_at else None, "recorded_by": r.recorded_by,
                 "report_sha256": r.report_sha256, "decisions": r.decisions}  # fmt: skip
                for r in reports.reviews(session)
            ]

    async def record(self, body: review.RecordReview, report_sha256: str, idempotency_key: str | None) -> dict[str, Any]:
        """Record the review's decisions; each with an action becomes a corrective action. Once
        per Idempotency-Key: a repeat answers with the review it recorded, and raises nothing."""
        self._require(review.may_record)
        key = idempotency_key or new_idempotency_key()
        recorded = request_key(self.user.email, key)
        number = await asyncio.to_thread(self._recorded, recorded)
        if number is None:
            number = await self._record(body, report_sha256, key, recorded)
        return next(r for r in self.reviews() if r["number"] == number)

    async def _record(self, body: review.RecordReview, report_sha256: str, key: str, recorded: str) -> int:
        actions = NonconformityService(self.database_url, self.user, self.gateway)
        decisions = []
        for index, decision in enumerate(body.decisions):
            number = None
            if decision.action is not None:  # keyed by the review's key: a repeat raises none again
                raised = await actions.raise_(nc.RaiseNonconformity(
                    source="management_review", description=decision.decision, action=decision.action
                ), f"{key}:decision-{index}")  # fmt: skip
                number = raised["number"]
            decisions.append({"decision": decision.decision, "nonconformity": number})
        since, until = review.period(body.period_from, body.period_to, body.period_to)
        now = dt.datetime.now(dt.UTC)
        try:
            with transaction(self.database_url) as session:
                row = reports.add_review(session, start=since, end=until, by=self.user.email, report_sha256=report_sha256,
                                         decisions=decisions, now=now, request_key=recorded)  # fmt: skip
                event = chains.NewEvent(type="management_review_recorded", actor=self.user.email, at=now, version=0,
                                        data={"number": row.number, "report_sha256": report_sha256, "decisions": decisions})  # fmt: skip
                chains.append(session, chains.SYSTEM_CHAIN, [event], now)
                return row.number
        except IntegrityError:  # the same request at the same moment: the other attempt recorded it
            number = self._recorded(recorded)
            assert number is not None
            return number

    def _recorded(self, recorded: str) -> int | None:
        with transaction(self.database_url) as session:
            row = reports.review_of_request(session, recorded)
            return row.number if row else None

    def _require(self, rule: Callable[[list[str]], None]) -> None:
        try:
            rule(list(self.user.roles))
        except Refused as error:
            raise refused(error) from None
