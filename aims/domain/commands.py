"""Commands: what an actor asks a use case to do. One typed union travels from the API to
the workflow; `kind` discriminates it (and names the Update that older workflows used)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from aims.domain import actions
from aims.domain.bounds import Text
from aims.domain.classification import Classification
from aims.domain.intake import Intake
from aims.domain.messages import ClassifyResult
from aims.domain.policy import Timing
from aims.domain.state import Actor, Model, Routing


class Command(Model):
    actor: Actor


class SubmitAssessment(Command):
    kind: Literal["submit_assessment"] = "submit_assessment"
    assessment: actions.Assessment


class DecideGate(Command):
    kind: Literal["decide_gate"] = "decide_gate"
    gate_id: str = Field(max_length=80)
    body: actions.GateDecision
    # The version the decider was looking at; a decision on an older version is stale.
    version: int | None = None


class ReviseIntake(Command):
    """What the person sends; the API classifies it into a `Revise` (Updates sent before it did
    so are classified by the workflow)."""

    kind: Literal["revise_intake"] = "revise_intake"
    intake: Intake
    reason: Text = ""

    def classified(self, result: ClassifyResult) -> Revise:
        return Revise(actor=self.actor, intake=self.intake, reason=self.reason, classification=result.classification,
                      routing=result.routing, timing=result.timing)  # fmt: skip


class Revise(Command):
    """A revision with its classification under the current policy."""

    kind: Literal["revise"] = "revise"
    intake: Intake
    reason: Text = ""
    classification: Classification
    routing: Routing
    timing: Timing


class SignOffDeployment(Command):
    kind: Literal["sign_off"] = "sign_off"
    body: actions.SignOff


class SubmitReview(Command):
    kind: Literal["submit_review"] = "submit_review"
    body: actions.ReviewAnswer


class ReportIncident(Command):
    kind: Literal["report_incident"] = "report_incident"
    body: actions.Incident


class RequestDecommission(Command):
    kind: Literal["request_decommission"] = "request_decommission"
    body: actions.DecommissionRequest


class ConfirmChecklist(Command):
    kind: Literal["confirm_checklist"] = "confirm_checklist"
    body: actions.DecommissionChecklist


class Withdraw(Command):
    kind: Literal["withdraw"] = "withdraw"
    body: actions.Withdrawal


LifecycleCommand = Annotated[
    Union[
        SubmitAssessment,
        DecideGate,
        ReviseIntake,
        Revise,
        SignOffDeployment,
        SubmitReview,
        ReportIncident,
        RequestDecommission,
        ConfirmChecklist,
        Withdraw,
    ],
    Field(discriminator="kind"),
]
COMMAND_TYPES: dict[str, type[Command]] = {
    command.model_fields["kind"].default: command
    for command in (
        SubmitAssessment,
        DecideGate,
        ReviseIntake,
        SignOffDeployment,
        SubmitReview,
        ReportIncident,
        RequestDecommission,
        ConfirmChecklist,
        Withdraw,
    )
}
