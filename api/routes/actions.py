"""Every lifecycle action over HTTP, registered once: its path, its body, and the command it
becomes. Adding an action means a command in the domain, a line here and its web form."""

from collections.abc import Callable
from dataclasses import dataclass
from inspect import Parameter, Signature
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from aims.domain import actions
from aims.domain.bounds import Text
from aims.domain.commands import (
    Command,
    ConfirmChecklist,
    DecideGate,
    ReportIncident,
    RequestDecommission,
    ReviseIntake,
    SignOffDeployment,
    SubmitAssessment,
    SubmitReview,
    Withdraw,
)
from aims.domain.intake import Intake
from aims.domain.state import Actor
from api.deps import GateId, IdempotencyKey, ServiceDep, UseCaseId

router = APIRouter(prefix="/api", tags=["actions"])


class Revision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    intake: Intake
    reason: Text = ""


class Decision(actions.GateDecision):
    version: int | None = Field(default=None, ge=1, le=1_000_000, description="The version you looked at; refused if stale")


@dataclass(frozen=True)
class Action:
    """`name` is the action's name in `aims.domain.permissions.ACTIONS` and the web forms."""

    name: str
    path: str
    body: type[BaseModel]
    command: Callable[[Actor, Any, dict[str, str]], Command]
    summary: str
    done: str  # what the web page says was recorded: "Recorded: {done} of Invoice OCR (version 1)"


ACTIONS: list[Action] = [
    Action("assessment", "/assessment", actions.Assessment,
           lambda actor, body, _: SubmitAssessment(actor=actor, assessment=body),
           "Submit the risk and impact assessment of the current version (business owner)",
           "your risk and impact assessment"),
    Action("revise", "/revisions", Revision,
           lambda actor, body, _: ReviseIntake(actor=actor, intake=body.intake, reason=body.reason),
           "Revise the intake: a new version, classified, assessed and approved on its own", "your revision"),
    Action("sign_off", "/sign-off", actions.SignOff,
           lambda actor, body, _: SignOffDeployment(actor=actor, body=body),
           "Sign off deployment: operations, blocker resolutions, controls in place (business owner)",
           "your deployment sign-off"),
    Action("review", "/reviews", actions.ReviewAnswer,
           lambda actor, body, _: SubmitReview(actor=actor, body=body),
           "Answer the due re-review, or open one (business owner)", "your re-review answer"),
    Action("incident", "/incidents", actions.Incident,
           lambda actor, body, _: ReportIncident(actor=actor, body=body),
           "Report an incident on a use case that has been deployed", "your incident report"),
    Action("decommission", "/decommission", actions.DecommissionRequest,
           lambda actor, body, _: RequestDecommission(actor=actor, body=body),
           "Request decommissioning", "your decommission request"),
    Action("checklist", "/decommission/checklist", actions.DecommissionChecklist,
           lambda actor, body, _: ConfirmChecklist(actor=actor, body=body),
           "Confirm the decommission checklist (business owner)", "the decommission checklist"),
    Action("withdraw", "/withdrawal", actions.Withdrawal,
           lambda actor, body, _: Withdraw(actor=actor, body=body),
           "Withdraw the use case before its approval (requester or business owner): it ends, every gate closes",
           "the withdrawal"),
    Action("decide", "/gates/{gate_id}/decision", Decision,
           lambda actor, body, path: DecideGate(
               actor=actor, gate_id=path["gate_id"], version=body.version,
               body=actions.GateDecision(decision=body.decision, comment=body.comment)),
           "Decide a gate: approve, reject or request changes (with a comment)", "your decision"),
]  # fmt: skip
ACTIONS_BY_NAME = {action.name: action for action in ACTIONS}


def _endpoint(action: Action) -> Callable[..., Any]:
    async def endpoint(
        use_case_id: str, body: BaseModel, service: Any, key: str | None = None, gate_id: str = ""
    ) -> dict[str, Any]:
        command = action.command(service.actor, body, {"gate_id": gate_id})
        return await service.act(use_case_id, command, key)

    parameters = [Parameter("use_case_id", Parameter.KEYWORD_ONLY, annotation=UseCaseId)]
    if "{gate_id}" in action.path:
        parameters.append(Parameter("gate_id", Parameter.KEYWORD_ONLY, annotation=GateId))
    parameters += [
        Parameter("body", Parameter.KEYWORD_ONLY, annotation=action.body),
        Parameter("service", Parameter.KEYWORD_ONLY, annotation=ServiceDep),
        Parameter("key", Parameter.KEYWORD_ONLY, annotation=IdempotencyKey, default=None),
    ]
    # The return type makes FastAPI serialise with pydantic instead of walking the dict itself.
    endpoint.__signature__ = Signature(parameters, return_annotation=dict[str, Any])  # type: ignore[attr-defined]
    endpoint.__name__ = action.name
    return endpoint


for _action in ACTIONS:
    router.add_api_route(
        "/use-cases/{use_case_id}" + _action.path,
        _endpoint(_action),
        methods=["POST"],
        summary=_action.summary,
        name=_action.name,
        operation_id=f"action_{_action.name}",
    )
