"""Route tests of the web pages: sign-in, CSRF, every page, and deciding from the browser."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import dataclasses
import re
from ipaddress import ip_network
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete
from temporalio.testing import WorkflowEnvironment

from tests.conftest import worker_for
from api.app import create_app
from api.web.pages import register as register_page
from api.web.render import age_days, countdown, waited
from aims.application import intake_form
from aims.domain.state import Transition
from aims.persistence import queries
from aims.persistence.models import WaitingItem
from aims.persistence.db import migrate, transaction
from aims.persistence.register import record_transition
from tests import domain_kit as kit
from tests import people
from tests.intakes import ASSESSMENT, SIGNOFF, changed, code_assistant, invoice_ocr
from tests.test_api import AIMS, OWNER, REQ, RISK, Api, settings_for


@dataclasses.dataclass
class Web:
    app: object
    api: Api

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://aims.test")

    @contextlib.asynccontextmanager
    async def signed_in(self, email: str) -> AsyncIterator[httpx.AsyncClient]:
        async with self.browser() as client:
            response = await sign_in(client, self.api.tokens[email])
            assert response.status_code == 303
            yield client


async def sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """The sign-in form as a browser sends it: with the token of the form it was shown."""
    form = await client.get("/sign-in")
    return await client.post("/sign-in", data={"token": token, "csrf": csrf_of(form.text)})


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.fixture(scope="module")
async def web(dev_env: WorkflowEnvironment, database_url: str) -> AsyncIterator[Web]:
    task_queue = f"web-{uuid.uuid4()}"
    tokens = people.seed(database_url)
    # httpx's in-process transport comes from 127.0.0.1: here, the trusted proxy.
    settings = dataclasses.replace(
        settings_for(database_url, task_queue), trusted_email_header="X-Forwarded-Email",
        trusted_proxies=(ip_network("127.0.0.1/32"),),
    )  # fmt: skip
    app = create_app(settings, client=dev_env.client)
    async with worker_for(dev_env.client, task_queue, database_url):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aims.test") as http:
            yield Web(app, Api(http, tokens))


async def new_case(web: Web, name: str, **answers: str) -> str:
    uc = (await web.api.ok(REQ, "/api/use-cases", changed(code_assistant(), name=name, **answers)))["id"]
    await web.api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    return uc


async def test_pages_need_sign_in_and_bad_tokens_or_forged_cookies_are_refused(web: Web):
    async with web.browser() as browser:
        for page in ("/", "/use-cases", "/approvals", "/stalled"):
            response = await browser.get(page)
            assert response.status_code == 303 and response.headers["location"] == "/sign-in"
        assert (await sign_in(browser, "nope")).status_code == 401
        browser.cookies.set("aims_session", "eyJlbWFpbCI6ICJhaW1zQGV4YW1wbGUuY29tIn0=.forged")
        assert (await browser.get("/")).status_code == 303


async def test_sign_in_sets_an_httponly_cookie_and_shows_the_dashboard(web: Web):
    async with web.browser() as browser:
        response = await sign_in(browser, web.api.tokens[REQ])
        assert "httponly" in response.headers["set-cookie"].lower()
        page = await browser.get("/")
        assert page.status_code == 200 and "Hello Req" in page.text and "My use cases" in page.text


async def test_the_sign_in_page_of_a_new_installation_says_how_to_make_the_first_person(tmp_path):
    database_url = f"sqlite:///{tmp_path}/new.db"
    migrate(database_url)
    app = create_app(settings_for(database_url, "unused"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aims.test") as http:
        page = await http.get("/sign-in")
        assert page.status_code == 200 and "Nobody can sign in yet" in page.text
        assert "aims users add --email you@example.com" in page.text and "--role admin" in page.text
        people.seed(database_url)
        page = await http.get("/sign-in")
        assert page.status_code == 200 and "Nobody can sign in yet" not in page.text and 'name="token"' in page.text


async def test_an_approver_decides_from_the_approvals_page_with_csrf(web: Web):
    name = f"Web case {uuid.uuid4().hex[:6]}"
    uc = await new_case(web, name)
    async with web.signed_in(RISK) as browser:
        queue = await browser.get("/approvals")
        assert name in queue.text and 'value="approve"' in queue.text
        assert "<p>risk review gate · waiting under a minute · due in 4 d" in queue.text  # it said "risk gate gate"
        assert '<p>Reads supplier invoices into the ledger <span class="muted">(MINIMAL, version 1)' in queue.text
        assert f'{name}</a> — risk review gate, due' in (await browser.get("/")).text
        path = f"/use-cases/{uc}/gates/v1-review-risk/decision"
        forged = await browser.post(path, data={"decision": "approve", "csrf": "wrong", "version": "1"})
        assert forged.status_code == 403 and "CSRF" in forged.text
        # A refusal shows on the page the button was on (the queue, or the use case), saying why.
        no_reason = await browser.post(path, data={"decision": "reject", "csrf": csrf_of(queue.text), "version": "1",
                                                   "back": "approvals"})  # fmt: skip
        assert no_reason.status_code == 422 and "<h1>My approval queue" in no_reason.text
        assert 'role="alert">Not recorded: comment: a reject decision needs a comment saying why.<' in no_reason.text
        stale = await browser.post(path, data={"decision": "request_changes", "comment": "See <b>3.2</b>",
                                               "csrf": csrf_of(queue.text), "version": "2"})  # fmt: skip
        assert stale.status_code == 409 and f"<h1>{name} " in stale.text and "Not recorded: " in stale.text
        assert 'value="See &lt;b&gt;3.2&lt;/b&gt;"' in stale.text  # the comment kept, escaped
        assert (await web.api.get(AIMS, f"/api/use-cases/{uc}")).json()["gates"][0]["state"] == "open"
        done = await browser.post(
            path, data={"decision": "approve", "csrf": csrf_of(queue.text), "version": "1", "back": "approvals"}
        )
        assert done.status_code == 303 and done.headers["location"].startswith("/approvals?msg=Recorded")
        shown = (await browser.get(done.headers["location"])).text
        assert f"Recorded: you approved the risk review gate of {name} (version 1). Status: in review." in shown
        trail = (await browser.get(f"/use-cases/{uc}")).text  # the audit trail in words, with its event type
        assert f"{RISK}: approved the risk review gate (version 1) <span class=\"muted\">(v1 · gate_decided)" in trail
    state = (await web.api.get(AIMS, f"/api/use-cases/{uc}")).json()
    assert next(g for g in state["gates"] if g["id"] == "v1-review-risk")["decided_by"] == RISK
    wordy = await new_case(web, f"Wordy {uuid.uuid4().hex[:6]}", purpose="Reads invoices " * 130)
    async with web.signed_in(RISK) as browser:
        queue = (await browser.get("/approvals")).text
        assert f'href="/use-cases/{wordy}"' in queue and ("Reads invoices " * 19) + "Reads..." in queue
        assert ("Reads invoices " * 25) not in queue  # the queue shows the start; the page has it all


def form_of(html: str, action: str) -> dict[str, str]:
    """The hidden fields of the form posting to `action`, as the browser sends them."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', html, re.S).group(0)
    return dict(re.findall(r'<input type="hidden" name="(csrf|version|back|submission)" value="([^"]*)">', form))


async def test_a_form_sent_twice_is_recorded_once_and_answered_alike(web: Web):
    """A double click, or a browser sending a form again: one decision, one incident, and the
    same answer both times (the second was told the gate is no longer open, or filed a second incident)."""
    name = f"Twice {uuid.uuid4().hex[:6]}"
    uc = (await web.api.ok(REQ, "/api/use-cases", changed(invoice_ocr(), name=name)))["id"]
    assess = f"/use-cases/{uc}/assessment"
    async with web.signed_in(OWNER) as owner:
        fields = assessment_form_data(ASSESSMENT) | form_of((await owner.get(assess)).text, assess)
        assert [(await owner.post(assess, data=fields)).status_code for _ in range(2)] == [303, 303]
    decide = f"/use-cases/{uc}/gates/v1-final-aims_owner/decision"
    async with web.signed_in(AIMS) as aims_owner:
        fields = form_of((await aims_owner.get("/approvals")).text, decide) | {"decision": "approve"}
        first, again = await aims_owner.post(decide, data=fields), await aims_owner.post(decide, data=fields)
        assert first.status_code == again.status_code == 303
        assert again.headers["location"] == first.headers["location"]  # "Recorded: you approved …" both times
    await web.api.ok(OWNER, f"/api/use-cases/{uc}/sign-off", SIGNOFF)
    report = f"/use-cases/{uc}/actions/incident"
    async with web.signed_in(OWNER) as owner:
        incident = form_of((await owner.get(f"/use-cases/{uc}")).text, report) | {"severity": "minor",
                                                                                   "description": "Blurry scan"}  # fmt: skip
        assert (await owner.post(report, data=incident)).status_code == 303
        assert (await owner.post(report, data=incident)).status_code == 303
        at_once = form_of((await owner.get(f"/use-cases/{uc}")).text, report) | {"severity": "minor",
                                                                                  "description": "Torn scan"}  # fmt: skip
        both = await asyncio.gather(owner.post(report, data=at_once), owner.post(report, data=at_once))
        assert [response.status_code for response in both] == [303, 303]
        tampered = await owner.post(report, data=incident | {"submission": "<script>"})
        assert tampered.status_code == 422 and "submission: not a form this site made" in tampered.text
    state = (await web.api.get(AIMS, f"/api/use-cases/{uc}")).json()
    assert state["incidents"] == 2 and [r["description"] for r in state["incident_reports"]] == ["Blurry scan", "Torn scan"]
    trail = (await web.api.get(AIMS, f"/api/use-cases/{uc}/audit")).json()["events"]
    assert [event["type"] for event in trail].count("gate_decided") == 1
    assert [event["type"] for event in trail].count("assessment_submitted") == 1


async def test_use_case_page_shows_why_and_offers_only_allowed_actions(web: Web):
    uc = await new_case(web, f"Detail {uuid.uuid4().hex[:6]}")
    async with web.signed_in(RISK) as browser:
        page = (await browser.get(f"/use-cases/{uc}")).text
        assert "SEC-2" in page and "T2_MEDIUM" in page and "hash chain verified" in page
        assert "due in 4 d 23 h" in page and "Conclusion: Acceptable with sampling" in page
        assert f"/use-cases/{uc}/gates/v1-review-risk/decision" in page
        assert f"/use-cases/{uc}/gates/v1-review-security/decision" not in page
    async with web.signed_in(OWNER) as browser:
        assert "/gates/v1-review-risk/decision" not in (await browser.get(f"/use-cases/{uc}")).text
        assert (await browser.get("/use-cases/nope")).status_code == 404


async def test_register_filters_and_csv(web: Web):
    name = f"Registered {uuid.uuid4().hex[:6]}"
    uc = await new_case(web, name)
    async with web.signed_in(REQ) as browser:
        page = await browser.get("/use-cases", params={"q": name, "status": "in_review", "aims_tier": "T2_MEDIUM"})
        assert name in page.text and "1 use case<" in page.text
        assert "0 use cases<" in (await browser.get("/use-cases", params={"q": name, "status": "retired"})).text
        export = await browser.get("/use-cases", params={"q": name, "format": "csv"})
        assert export.headers["content-type"].startswith("text/csv")
        assert export.text.splitlines()[0].startswith("id,name,status") and uc in export.text
        assert '<option selected>MINIMAL</option>' in (await browser.get("/use-cases", params={"category": "MINIMAL"})).text
        bad = await browser.get("/use-cases", params={"category": "NOPE"})
        assert bad.status_code == 200 and "category: choose one of: PROHIBITED," in bad.text


async def test_the_register_pages_through_every_row(web: Web, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(register_page, "PAGE", 1)
    prefix = f"Paged {uuid.uuid4().hex[:6]}"
    for index in range(3):
        await new_case(web, f"{prefix} {index}")
    async with web.signed_in(REQ) as browser:
        first = (await browser.get("/use-cases", params={"q": prefix})).text
        assert "3 use cases, 1–1 shown" in first and "Previous" not in first
        assert f'href="/use-cases?q={prefix.replace(" ", "+")}&amp;offset=1" rel="next"' in first
        last = (await browser.get("/use-cases", params={"q": prefix, "offset": 2})).text
        assert "3–3 shown" in last and 'offset=1" rel="prev"' in last and 'rel="next"' not in last
        seen = {re.search(rf"{prefix} \d", page).group(0) for page in (first, last)}
        assert len(seen) == 2
        assert (await browser.get("/use-cases", params={"offset": -1})).status_code == 422


async def test_stalled_view_is_for_the_aims_owner(web: Web):
    async with web.signed_in(RISK) as browser:
        assert (await browser.get("/stalled")).status_code == 403
    async with web.signed_in(AIMS) as browser:
        page = await browser.get("/stalled")
        assert page.status_code == 200 and "Open gates by age" in page.text and "in_review" in page.text


async def test_a_trusted_proxy_header_signs_in(web: Web):
    async with web.browser() as browser:
        page = await browser.get("/", headers={"X-Forwarded-Email": AIMS})
        assert page.status_code == 200 and "Stalled" in page.text
        assert (await browser.get("/", headers={"X-Forwarded-Email": "ghost@example.com"})).status_code == 303


def as_form(body: dict) -> list[tuple[str, str]]:
    """An intake body as the browser would post the generated form."""
    return [(name, value) for name, values in intake_form.values_of(body).items() for value in values]


def form_data(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for key, value in pairs:
        data.setdefault(key, []).append(value)
    return data


async def walk_intake(browser: httpx.AsyncClient, body: dict, start: str = "/use-cases/new") -> tuple[str, str]:
    """The intake's steps as a browser walks them: each step's answers, then "Save and continue";
    returns the review step's URL and page."""
    values = intake_form.values_of(body)
    location, page = start, await browser.get(start, follow_redirects=True)
    while (step := re.search(r'name="step" value="([a-z_]+)"', page.text).group(1)) != "review":
        section = intake_form.step_named(values, step)
        assert section is not None, step
        data = [("csrf", csrf_of(page.text)), ("draft", draft_of(page.text)), ("step", step), ("action", "next")]
        data += [(f.name, v) for f in section.fields for v in values.get(f.name, [])]
        answer = await browser.post("/use-cases/new", data=form_data(data))
        assert answer.status_code == 303, answer.text[-3000:]
        location = answer.headers["location"]
        page = await browser.get(location)
    return location, page.text


def assessment_form_data(body: dict, csrf: str = "", rows: int = 0) -> dict:
    """An assessment as its form posts it (`rows`: pad the risks to that many)."""
    risks = body["risks"] + [body["risks"][0]] * max(rows - len(body["risks"]), 0)
    data: dict = {"csrf": csrf, "risks.count": str(len(risks)), "impacts.count": str(len(body["impacts"])),
                  "stakeholders": "\n".join(body["stakeholders"]), "conclusion": body["conclusion"], "action": "submit"}
    for index, risk in enumerate(risks):
        data |= {f"risks.{index}.{key}": str(value) for key, value in risk.items() if key != "controls"}
        data[f"risks.{index}.controls"] = risk.get("controls", [])
    for index, impact in enumerate(body["impacts"]):
        data |= {f"impacts.{index}.{key}": str(value) for key, value in impact.items()}
    return data


def draft_of(html: str) -> str:
    return re.search(r'name="draft" value="([^"]*)"', html).group(1)


async def test_the_intake_in_steps_keeps_every_answer_and_submits(web: Web):
    async with web.signed_in(REQ) as browser:
        page = await browser.get("/use-cases/new")
        assert page.status_code == 200 and "Step 1 of 11" in page.text and 'name="name"' in page.text
        assert 'name="people.exposure"' not in page.text  # one step at a time
        name = f"Form case {uuid.uuid4().hex[:6]}"
        basics = [("csrf", csrf_of(page.text)), ("draft", ""), ("step", "basics"), ("action", "next"),
                  ("purpose", "Suggests code"), ("business_owner", OWNER), ("lifecycle_stage", "pilot")]  # fmt: skip
        failed = await browser.post("/use-cases/new", data=form_data(basics))
        assert failed.status_code == 422 and 'id="error-name"' in failed.text and 'aria-invalid="true"' in failed.text
        assert "Suggests code" in failed.text and draft_of(failed.text)  # nothing lost: kept in a draft
        forged = await browser.post("/use-cases/new", data=form_data([(k, v) for k, v in basics if k != "csrf"]))
        assert forged.status_code == 403
        kept = [(k, v) for k, v in basics if k not in ("action", "draft")]
        left = await browser.post("/use-cases/new", data=form_data(
            kept + [("draft", draft_of(failed.text)), ("name", name), ("action", "save")]))  # fmt: skip
        assert left.status_code == 303 and "Draft+saved" in left.headers["location"]
        dashboard = (await browser.get("/")).text
        assert "Your drafts (" in dashboard and name in dashboard

        review_url, review = await walk_intake(browser, changed(code_assistant(), name=name),
                                               start=f"/use-cases/new?draft={draft_of(failed.text)}")  # fmt: skip
        assert "Your supplier" in review  # bought through an API: the supplier questions were asked
        assert "T2_MEDIUM" in review and "SEC-2" in review and "the risk officer and security review it" in review
        assert "model we call (API)" in review and "third_party_model_via_api" not in review  # words, not keys
        done = await browser.post("/use-cases/new", data={"csrf": csrf_of(review), "draft": draft_of(review),
                                                          "step": "review", "action": "submit"})  # fmt: skip
        assert done.status_code == 303 and "?msg=Submitted&sig=" in done.headers["location"]
        detail = await browser.get(done.headers["location"])
        assert name in detail.text and "assessment" in detail.text and 'role="status">Submitted<' in detail.text
        assert f"draft={draft_of(review)}" not in (await browser.get("/")).text  # submitted: the draft is gone
        gone = await browser.get(review_url)
        assert gone.status_code == 404


async def test_a_system_built_in_house_is_never_asked_about_suppliers(web: Web):
    in_house = changed(invoice_ocr(), name=f"In house {uuid.uuid4().hex[:6]}")
    in_house["sourcing"] |= {"methods": ["built_in_house"], "suppliers": []}
    async with web.signed_in(REQ) as browser:
        _, review = await walk_intake(browser, in_house)
        assert "Your supplier" not in review and "Step 11 of 11" in review and "T1_LOW" in review
        await browser.post("/use-cases/new", data={"csrf": csrf_of(review), "draft": draft_of(review),
                                                   "step": "review", "action": "discard"})  # fmt: skip


async def test_the_owner_takes_a_use_case_to_production_and_beyond_from_the_pages(web: Web):
    name = f"Pages {uuid.uuid4().hex[:6]}"
    uc = (await web.api.ok(REQ, "/api/use-cases", changed(invoice_ocr(), name=name)))["id"]
    async with web.signed_in(OWNER) as owner:
        dashboard = (await owner.get("/")).text  # the owner's turn shows where they start
        assert f'#actions">{name}</a> — waiting for the risk and impact assessment, due in' in dashboard
        page = (await owner.get(f"/use-cases/{uc}")).text
        assert "Fill in the risk and impact assessment" in page and "Deployment sign-off" not in page
        form = await owner.get(f"/use-cases/{uc}/assessment")
        assert form.status_code == 200 and "pre-filled" in form.text and 'name="risks.0.controls"' in form.text
        csrf = csrf_of(form.text)
        assert (await owner.post(f"/use-cases/{uc}/assessment", data=assessment_form_data(ASSESSMENT))).status_code == 403
        more = await owner.post(f"/use-cases/{uc}/assessment",
                                data=assessment_form_data(ASSESSMENT, csrf) | {"action": "add-risks"})  # fmt: skip
        assert "Risk 2" in more.text and "Wrong answers reach a customer" in more.text  # a row more, nothing lost
        fewer = await owner.post(f"/use-cases/{uc}/assessment", data=form_data(
            list(assessment_form_data(ASSESSMENT, csrf, rows=2).items()) + [("action", "remove-risks-1")]))  # fmt: skip
        assert "Risk 2" not in fewer.text
        broken = assessment_form_data(ASSESSMENT, csrf) | {"risks.0.description": "", "risks.0.likelihood": "9"}
        failed = await owner.post(f"/use-cases/{uc}/assessment", data=broken)
        assert failed.status_code == 422 and 'id="error-risks.0.description"' in failed.text
        assert 'id="error-risks.0.likelihood"' in failed.text and "Acceptable with sampling" in failed.text
        huge = ASSESSMENT | {"risks": [ASSESSMENT["risks"][0] | {"description": "x" * 4000}]}
        too_big = await owner.post(f"/use-cases/{uc}/assessment", data=assessment_form_data(huge, csrf, rows=20))
        assert too_big.status_code == 422 and 'role="alert">Not recorded: the assessment is' in too_big.text
        assert "Risk 20" in too_big.text  # every row kept
        done = await owner.post(f"/use-cases/{uc}/assessment", data=assessment_form_data(ASSESSMENT, csrf))
        assert done.status_code == 303
    async with web.signed_in(REQ) as requester:  # where each of my use cases stands, and on whom it waits
        mine = (await requester.get("/")).text
        assert '<span class="badge">in_review</span></td>\n<td>AIMS owner final gate (AIMS owner), due in 4 d' in mine
    await web.api.decide(AIMS, uc, "v1-final-aims_owner")
    async with web.signed_in(OWNER) as owner:
        assert f'{name}</a> — waiting for the deployment sign-off, due in' in (await owner.get("/")).text
        page = (await owner.get(f"/use-cases/{uc}")).text
        assert "Deployment sign-off" in page
        sign_off = {"csrf": csrf_of(page), "monitoring_plan": "Weekly", "kill_switch": "yes",
                    "incident_contact": "oncall@example.com", "decommission_plan": "Archive",
                    "controls_in_place": ["A.6.2.4"]}  # fmt: skip
        # Refused forms come back on the page, open, with what was typed and the error beside its field.
        unchosen = await owner.post(f"/use-cases/{uc}/actions/sign_off", data=sign_off | {"controls_in_place": []})
        assert unchosen.status_code == 422 and 'id="error-sign_off-controls_in_place">choose at least one<' in unchosen.text
        assert 'value="oncall@example.com"' in unchosen.text and "Nothing you entered is lost" in unchosen.text
        hostile = await owner.post(f"/use-cases/{uc}/actions/sign_off",
                                   data=sign_off | {"controls_in_place": [], "incident_contact": '"><script>x</script>'})
        assert hostile.status_code == 422 and "<script>x" not in hostile.text  # typed values are escaped
        assert 'value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in hostile.text
        unplanned = await owner.post(f"/use-cases/{uc}/actions/sign_off", data=sign_off | {"monitoring_plan": ""})
        assert unplanned.status_code == 422 and "Not recorded: operations: required before sign-off: monitoring_plan" in unplanned.text
        assert '<option value="A.6.2.4" selected>' in unplanned.text
        assert (await web.api.get(OWNER, f"/api/use-cases/{uc}")).json()["status"] == "approved"  # nothing changed
        done = await owner.post(f"/use-cases/{uc}/actions/sign_off", data=sign_off)
        assert done.status_code == 303
        shown = (await owner.get(done.headers["location"])).text
        assert f"Recorded: your deployment sign-off of {name} (version 1). Status: in production." in shown
        page = (await owner.get(f"/use-cases/{uc}")).text
        assert "in_production" in page and "Answer the re-review" in page
        incident = {"csrf": csrf_of(page), "severity": "minor", "description": "Blurry scan"}
        assert (await owner.post(f"/use-cases/{uc}/actions/incident", data=incident)).status_code == 303
        revise = await owner.get(f"/use-cases/new?revise={uc}", follow_redirects=True)
        assert "Revise the intake" in revise.text and 'Reads supplier invoices into the ledger' in revise.text
        request = {"csrf": csrf_of(page), "reason": "Replaced"}
        assert (await owner.post(f"/use-cases/{uc}/actions/decommission", data=request)).status_code == 303
        page = (await owner.get(f"/use-cases/{uc}")).text
        checklist = {"csrf": csrf_of(page), "users_informed": "on", "system_disabled": "on"}
        partial = await owner.post(f"/use-cases/{uc}/actions/checklist", data=checklist)
        assert partial.status_code == 422 and "data_handled" in partial.text
        assert '<input type="checkbox" name="users_informed" checked>' in partial.text  # what was ticked stays ticked
    state = (await web.api.get(AIMS, f"/api/use-cases/{uc}")).json()
    assert state["status"] == "decommissioning" and state["incidents"] == 1


async def test_a_revision_through_the_form_restarts_the_gates(web: Web):
    uc = await new_case(web, f"Revise {uuid.uuid4().hex[:6]}")
    async with web.signed_in(REQ) as browser:
        started = await browser.get(f"/use-cases/new?revise={uc}")
        assert started.status_code == 303 and "draft=" in started.headers["location"]
        first = await browser.get(started.headers["location"])
        assert "Revise the intake" in first.text and "Reads supplier invoices into the ledger" in first.text
        _, review = await walk_intake(browser, changed(code_assistant(), purpose="Now pinned to m-large-2026"),
                                      start=started.headers["location"])  # fmt: skip
        assert 'name="reason"' in review
        done = await browser.post("/use-cases/new", data={"csrf": csrf_of(review), "draft": draft_of(review),
                                                          "step": "review", "action": "submit",
                                                          "reason": "Pinned the model"})  # fmt: skip
        assert done.status_code == 303 and "Revision+submitted" in done.headers["location"]
    state = (await web.api.get(AIMS, f"/api/use-cases/{uc}")).json()
    assert state["version"] == 2 and state["status"] == "assessment"  # assessed again before the gates (P3)
    draft = (await web.api.get(OWNER, f"/api/use-cases/{uc}/assessment/draft")).json()
    assert draft == ASSESSMENT | {"risks": [ASSESSMENT["risks"][0] | {"treatment_plan": "Human review of samples"}],
                                  "impacts": [ASSESSMENT["impacts"][0] | {"mitigation": ""}]}  # fmt: skip
    state = await web.api.ok(OWNER, f"/api/use-cases/{uc}/assessment", draft)  # resubmitted unchanged
    assert state["status"] == "in_review" and state["assessment_version"] == 2


async def test_a_requester_withdraws_from_the_use_case_page(web: Web):
    uc = await new_case(web, f"Withdrawn {uuid.uuid4().hex[:6]}")
    async with web.signed_in(REQ) as browser:
        page = await browser.get(f"/use-cases/{uc}")
        assert "Withdraw this use case" in page.text
        response = await browser.post(f"/use-cases/{uc}/actions/withdraw", data={"csrf": csrf_of(page.text), "reason": "Not needed"})
        assert response.status_code == 303
        after = await browser.get(f"/use-cases/{uc}")
        assert "withdrawn" in after.text and "Withdraw this use case" not in after.text


async def test_an_admin_manages_users_from_the_users_page_and_every_change_is_audited(web: Web):
    email = f"newcomer-{uuid.uuid4().hex[:6]}@example.com"
    async with web.signed_in(RISK) as browser:
        assert (await browser.get("/admin/users")).status_code == 403
    async with web.signed_in("admin@example.com") as browser:
        page = await browser.get("/admin/users")
        assert page.status_code == 200 and "Add a person" in page.text
        csrf = csrf_of(page.text)
        assert (await browser.post("/admin/users", data={"email": email, "name": "New"})).status_code == 403  # no CSRF
        bad = await browser.post("/admin/users", data={"csrf": csrf, "email": "not-an-email", "name": "New"})
        assert bad.status_code == 422 and "email:" in bad.text
        mixed = await browser.post("/admin/users", data={"csrf": csrf, "email": email, "name": "New",
                                                         "role": ["auditor", "risk"]})  # fmt: skip
        assert mixed.status_code == 422 and "no other role" in mixed.text
        added = await browser.post("/admin/users", data={"csrf": csrf, "email": email, "name": "New", "role": ["risk"],
                                                         "expires": "P30D"})  # fmt: skip
        assert added.status_code == 200
        token = re.search(r"<code>(aims_[^<]+)</code>", added.text).group(1)
        me = await web.api.http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["roles"] == ["requester", "risk"]

        ids = dict((found, number) for number, found in re.findall(
            r'action="/admin/users/(\d+)/roles">.*?Roles of ([^<]+)</legend>', added.text, re.S))  # fmt: skip
        user_id = ids[email]
        for _ in range(2):  # a double click changes them once
            assert (await browser.post(f"/admin/users/{user_id}/roles", data={"csrf": csrf, "role": ["security"]})).status_code == 303
        rotated = await browser.post(f"/admin/users/{user_id}/rotate", data={"csrf": csrf})
        new_token = re.search(r"<code>(aims_[^<]+)</code>", rotated.text).group(1)
        assert (await web.api.http.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
        me = await web.api.http.get("/api/me", headers={"Authorization": f"Bearer {new_token}"})
        assert me.json()["roles"] == ["requester", "security"]
        for _ in range(2):  # revoked already: nothing more to revoke
            assert (await browser.post(f"/admin/users/{user_id}/revoke", data={"csrf": csrf})).status_code == 303
        assert (await web.api.http.get("/api/me", headers={"Authorization": f"Bearer {new_token}"})).status_code == 401
        row = (await browser.get("/admin/users")).text.split(f"Roles of {email}")[1].split("</tr>")[0]
        assert "no working token since" in row and "(revoked or expired)" in row, row
        for _ in range(2):  # a leaver already is left as they are
            assert (await browser.post(f"/admin/users/{user_id}/deactivate", data={"csrf": csrf})).status_code == 303
    trail = (await web.api.get(AIMS, "/api/audit/system")).json()["events"]
    mine = [(e["type"], e["actor"]) for e in trail if e["data"].get("email") == email]
    kinds = [kind for kind, _ in mine]
    assert kinds == ["user_added", "roles_set", "token_rotated", "token_revoked", "user_deactivated"], mine
    assert {actor for _, actor in mine} == {"web:admin@example.com"}


async def test_the_add_person_form_sent_twice_adds_them_once_and_the_token_shown_last_works(web: Web):
    """A double click: the browser shows the second answer only. Before, it said "a user
    already" and the token the first send made was never seen."""
    email, twins = (f"{name}-{uuid.uuid4().hex[:6]}@example.com" for name in ("twice", "twins"))
    token_of = lambda page: re.search(r"<code>(aims_[^<]+)</code>", page.text).group(1)  # noqa: E731
    me = lambda token: web.api.http.get("/api/me", headers={"Authorization": f"Bearer {token}"})  # noqa: E731
    async with web.signed_in("admin@example.com") as browser:
        page = await browser.get("/admin/users")
        form = {"csrf": csrf_of(page.text), "email": email, "name": "Twice", "role": ["risk"],
                "submission": re.search(r'name="submission" value="([^"]+)"', page.text).group(1)}  # fmt: skip
        first = await browser.post("/admin/users", data=form)
        second = await browser.post("/admin/users", data=form)
        assert first.status_code == second.status_code == 200
        assert "sent more than once" in second.text and "sent more than once" not in first.text
        assert (await me(token_of(first))).status_code == 401
        assert (await me(token_of(second))).json()["roles"] == ["requester", "risk"]
        again = await browser.post("/admin/users", data=form | {"submission": "another-send-of-the-form"})
        assert again.status_code == 422 and f"{email} is a user already" in again.text
        assert (await browser.post("/admin/users", data=form | {"submission": "<script>"})).status_code == 422
        other = f"other-{uuid.uuid4().hex[:6]}@example.com"  # Back, another address, the same send
        assert (await browser.post("/admin/users", data=form | {"email": other})).status_code == 200
        assert (await me(token_of(second))).status_code == 200

        at_once = form | {"email": twins, "submission": "one-send-clicked-twice"}
        answers = await asyncio.gather(*(browser.post("/admin/users", data=at_once) for _ in range(2)))
        assert [answer.status_code for answer in answers] == [200, 200]
    trail = (await web.api.get(AIMS, "/api/audit/system")).json()["events"]
    for person in (email, twins):
        assert [e["type"] for e in trail if e["data"].get("email") == person] == ["user_added", "token_rotated"]


def test_sla_countdowns_read_as_a_person_would_say_them():
    now = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
    at = lambda **delta: (now + dt.timedelta(**delta)).isoformat()  # noqa: E731
    assert countdown(at(days=2, hours=4, minutes=30), now) == "due in 2 d 4 h"
    assert countdown(at(days=3), now) == "due in 3 d"
    assert countdown(at(hours=-5, minutes=-10), now) == "overdue by 5 h 10 min"
    assert countdown(at(hours=5), now) == "due in 5 h"
    assert countdown(at(minutes=12), now) == "due in 12 min"
    assert countdown(at(seconds=-20), now) == "overdue by under a minute"
    assert age_days(at(days=-1, hours=-12), now) == 1.5
    assert age_days(at(minutes=3), now) == 0.0  # opened "in the future" by a clock ahead of this one
    assert waited(at(days=-1, hours=-12, minutes=-5), now) == "1 d 12 h"
    assert waited(at(minutes=-42), now) == "42 min"
    assert waited(at(minutes=3), now) == "under a minute"


def test_the_dashboard_finds_what_waits_for_a_person_by_address_or_role(database_url: str):
    """`stages_waiting_for` narrows in SQL on the JSON lists as text: exact addresses and roles only."""
    owner = f"own_{uuid.uuid4().hex[:6]}@example.com"  # '_' would be a LIKE wildcard unescaped
    held = kit.in_status("legal_hold", changed(invoice_ocr(owner), name="Held"))
    held = held.model_copy(update={"id": str(uuid.uuid4())})
    waiting = kit.in_status("assessment", changed(invoice_ocr(owner), name="Unassessed"))
    waiting = waiting.model_copy(update={"id": str(uuid.uuid4())})
    with transaction(database_url) as session:
        for state in (held, waiting):
            transition = Transition(use_case_id=state.id, number=state.transition_number)
            record_transition(session, state, transition, kit.T0, channels=[])
    with transaction(database_url) as session:
        mine = queries.stages_waiting_for(session, owner, [])
        assert [(w["use_case_id"], w["label"]) for w in mine] == [(waiting.id, "the risk and impact assessment")]
        assert not queries.stages_waiting_for(session, owner.replace("_", "x"), [])
        legal = [w["use_case_id"] for w in queries.stages_waiting_for(session, "someone@example.com", ["legal"])]
        assert held.id in legal and waiting.id not in legal


def test_what_waits_is_listed_in_one_order_on_every_database(database_url: str):
    """Gates opened by one transition share their times: the order runs on to the key, so a
    queue, a dashboard and a Slack list never swap two items between one reading and the next."""
    state = kit.in_status("in_review", changed(code_assistant(), name="Tied"))
    state = state.model_copy(update={"id": str(uuid.uuid4())})
    due = kit.T0 + dt.timedelta(days=1)
    with transaction(database_url) as session:
        record_transition(session, state, Transition(use_case_id=state.id, number=state.transition_number), kit.T0,
                          channels=[])  # fmt: skip
        # A use case's detail lists its state's waiting items, which its rows were written from, in their order.
        detail = queries.use_case_detail(session, queries.use_case_row(session, state.id))["waiting"]
        assert len(detail) > 1 and detail == queries.waiting_on(session, [state.id])[state.id]
        session.execute(delete(WaitingItem).where(WaitingItem.use_case_id == state.id))
        for ref in ("v9-c", "v9-b", "v9-a"):  # stored in the reverse of the order they are listed in
            session.add(WaitingItem(use_case_id=state.id, kind="gate", ref=ref, label=ref, role="tied_role",
                                    roles=["tied_role"], emails=[], exclude=[], since=kit.T0, due_at=due,
                                    escalation_level=2))  # fmt: skip
    with transaction(database_url) as session:
        queue = [w["gate_id"] for w in queries.gates_waiting_for(session, "x@example.com", ["tied_role"])]
        assert queue == ["v9-a", "v9-b", "v9-c"]
        assert [w["ref"] for w in queries.waiting_on(session, [state.id])[state.id]] == queue
        assert [w["ref"] for w in queries.stalled(session) if w["use_case_id"] == state.id] == queue
