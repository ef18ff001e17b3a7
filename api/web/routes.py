"""Server-rendered pages for requesters, approvers and the AIMS owner.

They use the same `UseCaseService` as the REST API: no second copy of any rule.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from aims.domain import actions
from aims.domain.annex_a import ANNEX_A_CONTROLS
from aims.domain.lifecycle import TERMINAL
from aims.persistence import models, repository
from api.deps import SessionDep
from api.errors import ServiceError
from api.services import UseCaseService
from api.web import intake_form
from api.web import session as web_session

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

STATUSES = ["assessment", "in_review", "changes_requested", "legal_hold", "approved", "in_production",
            "under_review", "suspended", "rejected", "decommissioning", "retired"]  # fmt: skip
TIERS = ["T1_LOW", "T2_MEDIUM", "T3_HIGH", "T4_UNACCEPTABLE"]
AGE_BUCKETS = [("< 1 day", 1), ("1–3 days", 3), ("3–5 days", 5), ("5–10 days", 10), ("> 10 days", None)]


class SignInRequired(Exception):
    pass


class Viewer:
    def __init__(self, user: models.User, csrf: str):
        self.user = user
        self.csrf = csrf


def get_viewer(request: Request, session: SessionDep) -> Viewer:
    settings = request.app.state.settings
    if settings.trusted_email_header:
        email = request.headers.get(settings.trusted_email_header)
        user = repository.user_by_email(session, email) if email else None
        if user is not None:
            return Viewer(user, web_session.csrf_for_header_user(settings.secret_key, user.email))
    data = web_session.read(settings.secret_key, request.cookies.get(web_session.COOKIE))
    user = repository.user_by_email(session, data["email"]) if data else None
    if user is None or data is None:
        raise SignInRequired
    return Viewer(user, data["csrf"])


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


async def page_service(request: Request, session: SessionDep, viewer: ViewerDep) -> UseCaseService:
    return UseCaseService(
        session=session, lifecycle=await request.app.state.lifecycle(), user=viewer.user, policy=request.app.state.policy
    )


PageService = Annotated[UseCaseService, Depends(page_service)]


def check_csrf(viewer: Viewer, token: str) -> None:
    if not token or token != viewer.csrf:
        raise ServiceError("forbidden", "the form expired or did not come from this site (CSRF); reload and retry")


def render(request: Request, name: str, viewer: Viewer | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {"viewer": viewer, "message": request.query_params.get("msg"), **context},
        status_code=status_code,
    )


def countdown(due: str) -> str:
    """'due in 2 d 4 h' or 'overdue by 5 h', for SLA columns."""
    moment = dt.datetime.fromisoformat(due)
    seconds = (moment - dt.datetime.now(dt.UTC)).total_seconds()
    days, rest = divmod(abs(int(seconds)), 86400)
    text = f"{days} d {rest // 3600} h" if days else f"{rest // 3600} h {rest % 3600 // 60} min"
    return f"due in {text}" if seconds >= 0 else f"overdue by {text}"


templates.env.globals["countdown"] = countdown


def age_days(since: str | None, now: dt.datetime) -> float:
    if not since:
        return 0.0
    moment = dt.datetime.fromisoformat(since)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return (now - moment).total_seconds() / 86400


# ---------------------------------------------------------------- sign-in


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request) -> HTMLResponse:
    return render(request, "sign_in.html", None)


@router.post("/sign-in")
def sign_in(request: Request, session: SessionDep, token: Annotated[str, Form()] = "") -> Response:
    user = repository.user_by_token(session, token.strip()) if token.strip() else None
    if user is None:
        return render(request, "sign_in.html", None, status_code=401, error="That token is not valid.")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        web_session.COOKIE,
        web_session.issue(request.app.state.settings.secret_key, user.email),
        max_age=web_session.MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.public_url.startswith("https"),
    )
    return response


@router.post("/sign-out")
def sign_out(viewer: ViewerDep, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(viewer, csrf)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(web_session.COOKIE)
    return response


# ---------------------------------------------------------------- pages


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, viewer: ViewerDep, service: PageService) -> HTMLResponse:
    email = viewer.user.email
    _, my_cases = service.register(involving=email, limit=500)
    reviews_owed = [
        row
        for row in my_cases
        if row.business_owner == email and row.state.get("review") and not row.state["review"].get("answer")
    ]
    return render(
        request, "dashboard.html", viewer, cases=my_cases, gates=service.pending_approvals(), reviews=reviews_owed
    )


@router.get("/use-cases", response_model=None)
def register(
    request: Request,
    viewer: ViewerDep,
    service: PageService,
    status: str = "",
    aims_tier: str = "",
    category: str = "",
    owner: str = "",
    q: str = "",
    format: str = "",
) -> Response:
    total, rows = service.register(
        status=status or None, aims_tier=aims_tier or None, category=category or None, owner=owner or None,
        q=q or None, limit=500,
    )  # fmt: skip
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["id", "name", "status", "aims_tier", "regulatory_category", "version", "requester",
                         "business_owner", "policy_version", "next_review_due"])  # fmt: skip
        for row in rows:
            writer.writerow([row.id, row.name, row.status, row.aims_tier, row.regulatory_category, row.version,
                             row.requester, row.business_owner, row.policy_version,
                             row.state.get("next_review_due") or ""])  # fmt: skip
        return Response(
            buffer.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="aims-register.csv"'},
        )
    filters = {"status": status, "aims_tier": aims_tier, "category": category, "owner": owner, "q": q}
    return render(
        request, "register.html", viewer, rows=rows, total=total, filters=filters, statuses=STATUSES, tiers=TIERS
    )


async def _intake_from(request: Request) -> tuple[dict[str, list[str]], dict[str, Any]]:
    form = await request.form()
    values = {key: form.getlist(key) for key in form.keys()}
    return values, intake_form.parse(values)


@router.get("/use-cases/new", response_class=HTMLResponse)
def new_use_case(request: Request, viewer: ViewerDep, service: PageService, revise: str = "") -> HTMLResponse:
    """The intake form; `?revise=<id>` pre-fills it with that use case's current intake."""
    values = {"business_owner": [viewer.user.email]}
    if revise:
        values = intake_form.values_of(service.get(revise)["intake"]) | {"revise": [revise]}
    return render(request, "new.html", viewer, sections=intake_form.sections(), values=values, errors={})


@router.post("/use-cases/preview", response_class=HTMLResponse)
async def preview_fragment(request: Request, viewer: ViewerDep, service: PageService) -> HTMLResponse:
    _, body = await _intake_from(request)
    intake, errors = intake_form.validate(body)
    preview = service.preview(intake) if intake else None
    return render(request, "_preview.html", viewer, preview=preview, preview_errors=errors)


@router.post("/use-cases/new", response_model=None)
async def submit_use_case(request: Request, viewer: ViewerDep, service: PageService) -> Response:
    values, body = await _intake_from(request)
    check_csrf(viewer, (values.get("csrf") or [""])[0])
    intake, errors = intake_form.validate(body)
    preview = service.preview(intake) if intake else None
    revising = (values.get("revise") or [""])[0]
    if intake is not None and (values.get("action") or ["submit"])[0] == "submit":
        try:
            if revising:
                reason = (values.get("reason") or [""])[0]
                await service.revise(revising, intake, reason, None)
                return RedirectResponse(f"/use-cases/{revising}?msg=Revision submitted", status_code=303)
            created = await service.create(intake, None)
            return RedirectResponse(f"/use-cases/{created['id']}?msg=Submitted", status_code=303)
        except ServiceError as error:
            if error.field is None:
                raise
            errors = {error.field: error.message}
    status_code = 422 if errors else 200
    return render(
        request, "new.html", viewer, status_code=status_code, sections=intake_form.sections(), values=values,
        errors=errors, preview=preview, preview_errors=errors,
    )  # fmt: skip


@router.get("/use-cases/{use_case_id}", response_class=HTMLResponse)
def use_case_page(request: Request, use_case_id: str, viewer: ViewerDep, service: PageService) -> HTMLResponse:
    state = service.get(use_case_id)
    trail = service.audit_trail(use_case_id)
    decidable = {
        gate["id"]
        for gate in state["gates"]
        if gate["state"] == "open"
        and gate["role"] in viewer.user.roles
        and viewer.user.email not in (state["requester"], state["business_owner"])
    }
    draft = service.assessment_draft(use_case_id) if state["status"] == "assessment" else None
    return render(
        request, "use_case.html", viewer, state=state, trail=trail, decidable=decidable,
        available=available_actions(state, viewer.user), draft=json.dumps(draft, indent=2) if draft else "",
        controls=ANNEX_A_CONTROLS,
    )  # fmt: skip


def available_actions(state: dict[str, Any], user: models.User) -> set[str]:
    """What this viewer may do now; the workflow still checks every action when it arrives."""
    status, email = state["status"], user.email
    owner, requester = email == state["business_owner"], email == state["requester"]
    review = state.get("review")
    can: set[str] = set()
    if status in TERMINAL:
        return can
    if owner and status == "assessment":
        can.add("assessment")
    if owner and status == "approved":
        can.add("sign_off")
    if owner and (status == "in_production" or (review and not review.get("answer"))):
        can.add("review")
    if status in ("in_production", "under_review", "suspended", "approved"):
        can.add("incident")
    if status in ("approved", "in_production", "under_review", "suspended", "changes_requested") and (
        owner or requester or "aims_owner" in user.roles
    ):
        can.add("decommission")
    if owner and status == "decommissioning" and not (state.get("decommission") or {}).get("checklist"):
        can.add("checklist")
    if (status == "legal_hold" and "legal" in user.roles) or (
        status not in ("legal_hold", "decommissioning") and (owner or requester)
    ):
        can.add("revise")
    return can


@router.post("/use-cases/{use_case_id}/actions/{action}", response_model=None)
async def act(request: Request, use_case_id: str, action: str, viewer: ViewerDep, service: PageService) -> Response:
    form = await request.form()
    check_csrf(viewer, str(form.get("csrf", "")))
    text = {key: str(value).strip() for key, value in form.items()}
    try:
        if action == "assessment":
            body = actions.Assessment.model_validate_json(text.get("assessment", "") or "{}")
            await service.submit_assessment(use_case_id, body, None)
        elif action == "sign_off":
            resolutions = {
                rule: {"evidence_url": text.get(f"evidence_{rule}", ""), "note": text.get(f"note_{rule}", "")}
                for rule in form.getlist("blockers")
            }
            operations = {k: text.get(k, "") for k in ("monitoring_plan", "kill_switch", "incident_contact",
                                                        "decommission_plan")}  # fmt: skip
            await service.sign_off(use_case_id, actions.SignOff.model_validate({
                "operations": operations, "blocker_resolutions": resolutions,
                "controls_in_place": form.getlist("controls_in_place"), "comment": text.get("comment", ""),
            }), None)  # fmt: skip
        elif action == "review":
            await service.review(use_case_id, actions.ReviewAnswer.model_validate({
                "material_change": {k: text.get(k, "") for k in ("purpose", "data", "model_or_supplier", "users")},
                "incidents_since_last_review": text.get("incidents_since_last_review") or "0",
                "kpis": text.get("kpis", ""), "proposal": text.get("proposal", ""), "comment": text.get("comment", ""),
            }), None)  # fmt: skip
        elif action == "incident":
            body = actions.Incident.model_validate({"severity": text.get("severity", ""),
                                                    "description": text.get("description", "")})  # fmt: skip
            await service.incident(use_case_id, body, None)
        elif action == "decommission":
            body = actions.DecommissionRequest.model_validate({"reason": text.get("reason", "")})
            await service.decommission(use_case_id, body, None)
        elif action == "checklist":
            items = actions.DecommissionChecklist.model_fields
            checklist = {k: k in form for k in items if k != "note"} | {"note": text.get("note", "")}
            await service.checklist(use_case_id, actions.DecommissionChecklist.model_validate(checklist), None)
        else:
            raise ServiceError("not_found", f"unknown action {action!r}")
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ServiceError("invalid", f"{where}: {first['msg']}", field=where) from None
    return RedirectResponse(f"/use-cases/{use_case_id}?msg=Recorded: {action.replace('_', ' ')}", status_code=303)


@router.post("/use-cases/{use_case_id}/gates/{gate_id}/decision", response_model=None)
async def decide(
    request: Request,
    use_case_id: str,
    gate_id: str,
    viewer: ViewerDep,
    service: PageService,
    decision: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
    version: Annotated[int | None, Form()] = None,
    csrf: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(viewer, csrf)
    if decision not in ("approve", "reject", "request_changes"):
        raise ServiceError("invalid", "decision: choose approve, reject or request changes", field="decision")
    body = actions.GateDecision(decision=decision, comment=comment)  # type: ignore[arg-type]
    await service.decide(use_case_id, gate_id, body, version, None)
    target = "/approvals" if back == "approvals" else f"/use-cases/{use_case_id}"
    return RedirectResponse(f"{target}?msg=Recorded: {decision.replace('_', ' ')} on {gate_id}", status_code=303)


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, viewer: ViewerDep, service: PageService) -> HTMLResponse:
    now = dt.datetime.now(dt.UTC)
    gates = service.pending_approvals()  # oldest first
    for gate in gates:
        gate["age_days"] = age_days(gate["opened_at"], now)
    return render(request, "approvals.html", viewer, gates=gates)


@router.get("/stalled", response_class=HTMLResponse)
def stalled(request: Request, viewer: ViewerDep, service: PageService, session: SessionDep, sort: str = "age") -> HTMLResponse:
    now = dt.datetime.now(dt.UTC)
    view = service.stalled()
    for gate in view["gates"]:
        gate["age_days"] = age_days(gate["opened_at"], now)
        gate["assignees"] = [u.email for u in repository.users_with_roles(session, [gate["role"]])]
        gate["reminders"] = repository.reminders_sent(session, gate["use_case_id"], gate["gate_id"])
    key = {"age": lambda g: -g["age_days"], "name": lambda g: g["name"], "level": lambda g: -g["escalation_level"]}
    view["gates"].sort(key=key.get(sort, key["age"]))
    for review in view["reviews"]:
        review["overdue_days"] = age_days(review["review"]["due_at"], now)
    _, rows = service.register(limit=500)
    by_status = Counter(row.status for row in rows)
    by_tier = Counter(row.aims_tier for row in rows)
    buckets = Counter()
    for gate, _ in repository.open_gates(session):
        days = age_days(gate.opened_at.isoformat() if gate.opened_at else None, now)
        label = next(name for name, limit in AGE_BUCKETS if limit is None or days < limit)
        buckets[label] += 1
    chart = [(name, buckets[name]) for name, _ in AGE_BUCKETS]
    return render(
        request, "stalled.html", viewer, view=view, by_status=by_status, by_tier=by_tier, chart=chart,
        chart_max=max([count for _, count in chart] + [1]), sort=sort,
    )  # fmt: skip
