"""What the API, the web pages and Slack do, once: reads from the register, actions to the
workflow after the same checks the workflow applies (an action refused here never reaches it)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, Any

from pydantic import BaseModel
from sqlalchemy import Row, exists, select
from sqlalchemy.orm import Session

from aims.domain import lifecycle, permissions
from aims.domain.assessment_draft import draft_assessment
from aims.domain.classification import Classification
from aims.domain.commands import Command, ReviseIntake
from aims.domain.intake import Intake
from aims.domain.listening import CHANNEL_LABELS, NotificationSettings
from aims.domain.messages import Ack, ClassifyResult
from aims.domain.policy import Policy
from aims.domain.state import Actor, Refused, UseCaseState
from aims.persistence import queries, users
from aims.persistence.db import reading, transaction
from aims.persistence.models import GateDecision, Notification, UseCase, User
from aims.signing import SigningKey
from aims.application import evidence
from aims.application.errors import ServiceError, repeatable
from aims.application.gateway import UseCaseGateway, new_idempotency_key, request_id, use_case_id_for

GatewayFactory = Callable[[], Awaitable[UseCaseGateway]]


class ClassificationPreview(BaseModel):
    classification: Classification
    review_roles: list[str]
    final_role: str | None


@dataclass(frozen=True)
class Prepared:
    """A command checked against the register, with the Update id that makes it idempotent."""

    use_case_id: str
    command: Command
    update_id: str


def refused(error: Refused) -> ServiceError:
    return ServiceError(error.code, error.message)



@dataclass
class Caller:
    """One signed-in person's requests: the register to read, Temporal to send changes to."""

    database_url: str
    user: User  # loaded with its roles, detached from any session
    # Connecting to Temporal only when a change is sent: reads never need it.
    gateway: GatewayFactory

    @property
    def actor(self) -> Actor:
        return Actor(email=self.user.email, roles=list(self.user.roles))


@dataclass
class UseCaseService(Caller):
    """One person's use of aims. Every database step is a short unit of work of its own, run off
    the event loop by the async methods; no connection is ever held while Temporal works."""

    policy: Policy

    def read(self) -> AbstractContextManager[Session]:
        return reading(self.database_url)

    # ------------------------------------------------------------ reads

    def row(self, session: Session, use_case_id: str) -> Row[Any]:
        row = queries.use_case_row(session, use_case_id)
        if row is None:
            raise ServiceError("not_found", f"no use case {use_case_id!r}")
        return row

    def readable(self, session: Session, use_case_id: str) -> tuple[Row[Any], UseCaseState]:
        """The use case, if this user may read its full detail (P: who may read what)."""
        row = self.row(session, use_case_id)
        state = queries.state_of(row)
        if not permissions.may_read_detail(state, self.actor, self.policy.detail_visibility) and not self._decided(
            session, row.id
        ):
            raise ServiceError(
                "forbidden",
                "the full detail of a use case is for its requester, business owners, deciders and the governance "
                "roles; the register shows its summary",
            )
        return row, state

    def _decided(self, session: Session, use_case_id: str) -> bool:
        return bool(
            session.scalar(
                select(
                    exists().where(GateDecision.use_case_id == use_case_id, GateDecision.decided_by == self.user.email)
                )
            )
        )

    def detail(self, use_case_id: str) -> dict[str, Any]:
        with self.read() as session:
            row, state = self.readable(session, use_case_id)
            return queries.use_case_detail(session, row) | {"you": self.may(state)}

    def may(self, state: UseCaseState) -> dict[str, Any]:
        """What the caller may do now: the same rules as the workflow's, for buttons and forms."""
        return {
            "email": self.user.email,
            "actions": sorted(permissions.allowed_actions(state, self.actor)),
            "decidable_gates": [gate.id for gate in permissions.decidable_gates(state, self.actor)],
        }

    def register(
        self, filters: queries.RegisterFilter, *, involving: str | None = None, limit: int = 50, offset: int = 0,
        with_state: bool = False,
    ) -> tuple[int, list[UseCase]]:
        """A page of the register (rows detached: summary columns only, unless `with_state`)."""
        with self.read() as session:
            total, rows = queries.list_use_cases(
                session, filters, involving=involving, limit=limit, offset=offset, with_state=with_state
            )
            return total, list(rows)

    def audit_trail(self, use_case_id: str) -> dict[str, Any]:
        with self.read() as session:
            self.readable(session, use_case_id)
            return queries.audit_trail(session, use_case_id)

    def assessment_draft(self, use_case_id: str) -> dict[str, Any]:
        """The previous version's assessment to resubmit or edit (P3), else one drafted from the intake."""
        with self.read() as session:
            row, state = self.readable(session, use_case_id)
            details = row.details or {}
        if details.get("assessment"):
            return details["assessment"]
        intake = Intake.model_validate(details["intake"])
        return draft_assessment(intake, state.classification, self.policy)

    def preview(self, intake: Intake) -> ClassificationPreview:
        result = ClassifyResult.of(intake, self.policy)
        return ClassificationPreview(
            classification=result.classification, review_roles=result.routing.review_roles,
            final_role=result.routing.final_role,
        )  # fmt: skip

    def pending_approvals(self) -> list[dict[str, Any]]:
        """Open gates the caller may decide: their role, and not a use case they are involved in."""
        with self.read() as session:
            return queries.gates_waiting_for(session, self.user.email, self.user.roles)

    def waiting_on(self, use_case_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """What these use cases wait for now, and from whom (for a requester: where each stands)."""
        with self.read() as session:
            return queries.waiting_on(session, use_case_ids)

    def reviews_owed(self) -> list[dict[str, Any]]:
        """Re-reviews waiting for the caller's answer, oldest first."""
        with self.read() as session:
            return queries.reviews_owed(session, self.user.email)

    def stages_owed(self) -> list[dict[str, Any]]:
        """What the caller's use cases wait for from them outside the gates (assessment, sign-off, …)."""
        with self.read() as session:
            return queries.stages_waiting_for(session, self.user.email, self.user.roles)

    def require_governance_view(self) -> None:
        if not permissions.OVERSIGHT_ROLES & set(self.user.roles):
            raise ServiceError("forbidden", "this view is for the AIMS owner, admins and auditors")

    def export_evidence(self, target: IO[bytes], key: SigningKey, use_case_id: str | None) -> evidence.Exported:
        """A signed bundle of one use case's chain (for whoever may read its detail) or of the
        whole AIMS (AIMS owner, admins, auditors)."""
        if use_case_id is None:
            self.require_governance_view()
            chain_ids, scope = None, {"kind": "aims"}
        else:
            with self.read() as session:
                self.readable(session, use_case_id)
            chain_ids, scope = [use_case_id], {"kind": "use_case", "use_case_id": use_case_id}
        return evidence.write_bundle(
            target, self.database_url, chain_ids=chain_ids, scope=scope, exported_by=self.user.email, key=key,
            now=dt.datetime.now(dt.UTC),
        )  # fmt: skip

    def evidence_pack(self, use_case_id: str) -> dict[str, Any]:
        with self.read() as session:
            row, _ = self.readable(session, use_case_id)
            return evidence.evidence_pack(session, use_case_id) | {"name": row.name, "status": row.status}

    def stalled(self) -> list[dict[str, Any]]:
        self.require_governance_view()
        with self.read() as session:
            return queries.stalled(session)

    def system_trail(self) -> dict[str, Any]:
        self.require_governance_view()
        with self.read() as session:
            return queries.system_trail(session)

    def notifications(self, limit: int, offset: int) -> list[Notification]:
        with self.read() as session:
            return list(queries.notifications_for(session, self.user.email, limit=limit, offset=offset))

    def listening(self, configured: list[str]) -> dict[str, Any]:
        """The caller's notification settings, with the channels this installation has."""
        with self.read() as session:
            user = session.get(User, self.user.id)
            assert user is not None
            muted = set(user.muted_channels or ())
            return {
                "channels": [{"name": name, "label": CHANNEL_LABELS[name], "enabled": name not in muted}
                             for name in configured],  # fmt: skip
                "muted_channels": sorted(muted),
                "daily_digest": user.daily_digest,
            }

    def listen(self, settings: NotificationSettings, configured: list[str]) -> dict[str, Any]:
        with transaction(self.database_url) as session:
            user = session.get(User, self.user.id)
            assert user is not None
            users.set_listening(user, muted=settings.muted_channels, daily_digest=settings.daily_digest)
        return self.listening(configured)

    # ------------------------------------------------------------ commands

    async def create(self, intake: Intake, idempotency_key: str | None) -> dict[str, Any]:
        try:
            permissions.require_may_act(self.actor)
        except Refused as error:
            raise refused(error) from None
        key = idempotency_key or new_idempotency_key()
        use_case_id = use_case_id_for(self.user.email, key)
        if not await asyncio.to_thread(self._exists, intake, use_case_id):
            await repeatable(self._start(use_case_id, intake), key)
        return await asyncio.to_thread(self.fresh_detail, use_case_id)

    async def _start(self, use_case_id: str, intake: Intake) -> Ack:
        gateway = await self.gateway()
        return await gateway.start(use_case_id, self.user.email, intake, ClassifyResult.of(intake, self.policy))

    def _exists(self, intake: Intake, use_case_id: str) -> bool:
        with self.read() as session:
            self._require_known_owner(session, intake)
            return queries.use_case_row(session, use_case_id) is not None

    async def act(self, use_case_id: str, command: Command, idempotency_key: str | None) -> dict[str, Any]:
        key = idempotency_key or new_idempotency_key()
        prepared = await asyncio.to_thread(self.prepare, use_case_id, command, key)
        await repeatable(self.send(prepared), key)
        return await asyncio.to_thread(self.fresh_detail, use_case_id)

    def prepare(self, use_case_id: str, command: Command, idempotency_key: str) -> Prepared:
        """Check the command with the workflow's own rules against the register (reads only)."""
        with self.read() as session:
            row = self.row(session, use_case_id)
            state = queries.state_of(row)
            update_id = request_id(command.kind, row.id, self.user.email, idempotency_key)
            if update_id not in state.seen_requests:  # a repeat is answered, not checked again
                try:
                    lifecycle.check(state, command)
                except Refused as error:
                    raise refused(error) from None
                if isinstance(command, ReviseIntake):
                    self._require_known_owner(session, command.intake)
        if isinstance(command, ReviseIntake):  # classified here, as an intake is
            command = command.classified(ClassifyResult.of(command.intake, self.policy))
        return Prepared(row.id, command, update_id)

    async def send(self, prepared: Prepared) -> Ack:
        """Send a prepared command; the register holds its outcome when this returns."""
        gateway = await self.gateway()
        return await gateway.send(prepared.use_case_id, prepared.command, prepared.update_id)

    def fresh_detail(self, use_case_id: str) -> dict[str, Any]:
        """The register as the workflow left it (it wrote there before it answered)."""
        with self.read() as session:
            row = self.row(session, use_case_id)
            return queries.use_case_detail(session, row) | {"you": self.may(queries.state_of(row))}

    def _require_known_owner(self, session: Session, intake: Intake) -> None:
        if not users.is_active(session, intake.business_owner):
            raise ServiceError(
                "invalid", f"{intake.business_owner} is not a known user; add them first", field="business_owner"
            )
