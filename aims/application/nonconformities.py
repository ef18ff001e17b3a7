"""Nonconformities and corrective actions as people use them: raise one with its action, list
and read them, complete an action, check its effectiveness. Reads come from the register;
changes go to each nonconformity's workflow after the same checks it applies."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from aims.application.errors import ServiceError, repeatable
from aims.application.gateway import new_idempotency_key, request_key
from aims.application.service import Caller, refused
from aims.domain import nonconformity as nc
from aims.domain.policy import GateEscalation
from aims.domain.state import Refused
from aims.persistence import nonconformities as records
from aims.persistence import queries
from aims.persistence.db import transaction

READERS = nc.RAISING_ROLES | {"auditor"}


class NonconformityService(Caller):
    def _may_read(self, row: Any) -> None:
        if not (READERS & set(self.user.roles) or row.action_owner == self.user.email):
            raise ServiceError("forbidden", "nonconformities are for the governance roles, auditors and action owners")

    # ------------------------------------------------------------ reads

    def listed(self, status: str | None) -> list[dict[str, Any]]:
        with transaction(self.database_url) as session:
            rows = records.listed(session, status)
            mine = READERS & set(self.user.roles)
            return [records.view(row) for row in rows if mine or row.action_owner == self.user.email]

    def one(self, number: int) -> dict[str, Any]:
        with transaction(self.database_url) as session:
            row = records.get(session, number)
            if row is None or row.status == "draft":
                raise ServiceError("not_found", f"no nonconformity {number}")
            self._may_read(row)
            return records.view(row)

    # ------------------------------------------------------------ changes

    async def raise_(self, body: nc.RaiseNonconformity, idempotency_key: str | None) -> dict[str, Any]:
        """Raised once per Idempotency-Key: a repeat answers with the nonconformity it raised."""
        key = idempotency_key or new_idempotency_key()
        number, opened = await asyncio.to_thread(self._draft, body, request_key(self.user.email, key))
        if not opened:
            await repeatable(self._open(number), key)
        return await asyncio.to_thread(self.one, number)

    async def _open(self, number: int) -> None:
        gateway = await self.gateway()
        await gateway.open_nonconformity(number)

    async def act(self, number: int, command: nc.NcCommand) -> dict[str, Any]:
        """The same command by the same person again answers with the one recorded."""
        round_number = await asyncio.to_thread(self._check, number, command)
        if round_number is not None:
            gateway = await self.gateway()
            update_id = f"nc:{number}:{round_number}:{command.kind}:{self.user.email}"
            await gateway.act_on_nonconformity(number, command, update_id)
        return await asyncio.to_thread(self.one, number)

    def _draft(self, body: nc.RaiseNonconformity, key: str) -> tuple[int, bool]:
        """The draft's number, and whether its workflow has opened it already (a repeat)."""
        now = dt.datetime.now(dt.UTC)
        with transaction(self.database_url) as session:
            try:
                nc.may_raise(self.actor, body, now)
            except Refused as error:
                raise refused(error) from None
            if body.use_case_id and queries.get_use_case(session, body.use_case_id) is None:
                raise ServiceError("invalid", f"no use case {body.use_case_id!r}", field="use_case_id")
            row = records.add_draft(session, body, self.user.email, now, key)
            return row.number, row.status != "draft"

    def _check(self, number: int, command: nc.NcCommand) -> int | None:
        """The round the command acts on; None when it is recorded already (a repeat)."""
        with transaction(self.database_url) as session:
            row = records.get(session, number)
            if row is None or row.status == "draft":
                raise ServiceError("not_found", f"no nonconformity {number}")
            if nc.done_already(row.rounds, command):
                return None
            state = nc.NcState(
                number=row.number, raised_by=row.raised_by, status=row.status, action_owner=row.action_owner,
                since=row.raised_at, due_at=row.due_at, steps=[], check_sla="P1D", escalation=GateEscalation(),
            )  # fmt: skip
            try:
                nc.check(state, command, dt.datetime.now(dt.UTC))
            except Refused as error:
                raise refused(error) from None
            return row.rounds[-1]["round"]
