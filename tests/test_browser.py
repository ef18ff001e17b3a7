"""The web pages in a real browser (Debian's Chromium, headless, driven by Playwright) against a
real HTTP server, worker and Temporal dev server. Saves a screenshot of each page."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
import uvicorn
import yaml
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from tests.net import free_port
from tests import people
from tests.conftest import repo_root
from tests.intakes import ASSESSMENT, changed, code_assistant
from tests.test_api import AIMS, OWNER, REQ, RISK, settings_for
from aims.application import intake_form

CHROMIUM = "/usr/bin/chromium"
ADMIN = "admin@example.com"
SCREENSHOTS = repo_root() / "docs" / "screenshots"


@dataclasses.dataclass
class Site:
    url: str
    tokens: dict[str, str]
    browser: Browser

    async def page_for(self, email: str) -> Page:
        context = await self.browser.new_context(viewport={"width": 1200, "height": 900})
        page = await context.new_page()
        await page.goto(f"{self.url}/sign-in")
        await page.get_by_label("API token").fill(self.tokens[email])
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{self.url}/")
        return page


@pytest.fixture(scope="module")
async def site(dev_env: WorkflowEnvironment, database_url: str, tmp_path_factory) -> AsyncIterator[Site]:
    task_queue = f"browser-{uuid.uuid4()}"
    tokens = people.seed(database_url)
    # Gates stall after two seconds here, so the stalled view has something real to show.
    policy = yaml.safe_load((repo_root() / "docs/examples/demo-policy.yaml").read_text()) | {"gate_sla": "PT2S"}
    policy_file = tmp_path_factory.mktemp("policy") / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    worker = subprocess.Popen(
        [sys.executable, "-m", "aims.cli", "worker"],
        env=os.environ | {
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "AIMS_DATABASE_URL": database_url,
            "AIMS_TASK_QUEUE": task_queue,
            "AIMS_POLICY_FILE": str(policy_file),
        },
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    port = free_port()
    # The same policy as the worker's, as deployed: the API classifies the intakes it takes.
    settings = dataclasses.replace(settings_for(database_url, task_queue), policy_file=policy_file)
    app = create_app(settings, client=dev_env.client)
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield Site(f"http://127.0.0.1:{port}", tokens, browser)
        await browser.close()
    server.should_exit = True
    await serving
    worker.terminate()
    worker.wait(timeout=30)


async def fill_intake(page: Page, body: dict, screenshot_step: str | None = None) -> None:
    """Walk the intake's steps as a person does: answer each step's questions, then continue."""
    values = intake_form.values_of(body)
    while (step := await page.locator('input[name="step"]').get_attribute("value")) != "review":
        section = intake_form.step_named(values, step)
        assert section is not None, step
        for f in section.fields:
            for value in values.get(f.name, []):
                field = page.locator(f'[name="{f.name}"]').first
                kind = await field.evaluate("e => e.tagName + ':' + (e.type || '')")
                if kind == "INPUT:checkbox":
                    await page.locator(f'[name="{f.name}"][value="{value}"]').check()
                elif kind.startswith("SELECT"):
                    await field.select_option(value)
                else:
                    await field.fill(value)
        if step == screenshot_step:
            await page.screenshot(path=str(SCREENSHOTS / "new-use-case.png"), full_page=True)
        await page.get_by_role("button", name="Save and continue").click()
        await page.wait_for_load_state()


async def test_request_approve_and_watch_stalls_in_a_browser(site: Site):
    name = f"Browser case {uuid.uuid4().hex[:6]}"
    requester = await site.page_for(REQ)
    await requester.goto(f"{site.url}/use-cases/new")
    await fill_intake(requester, changed(code_assistant(), name=name), screenshot_step="high_risk")
    await requester.locator("#preview").get_by_text("SEC-2").wait_for()  # what will happen, in words
    await requester.screenshot(path=str(SCREENSHOTS / "new-use-case-review.png"), full_page=True)
    await requester.get_by_role("button", name="Submit").click()
    await requester.get_by_role("status").get_by_text("Submitted").wait_for()
    use_case_id = requester.url.split("/use-cases/")[1].split("?")[0]

    owner = await site.page_for(OWNER)
    response = await owner.request.post(
        f"{site.url}/api/use-cases/{use_case_id}/assessment",
        data=ASSESSMENT,
        headers={"Authorization": f"Bearer {site.tokens[OWNER]}"},
    )
    assert response.ok

    approver = await site.page_for(RISK)
    await approver.goto(f"{site.url}/approvals")
    await approver.get_by_role("region", name=name).get_by_role("button", name="Reject").click()  # no comment
    await approver.get_by_role("alert").get_by_text("needs a comment saying why").wait_for()
    await accessible(approver, "approvals after a refused decision")
    section = approver.get_by_role("region", name=name)
    await section.get_by_role("button", name="Approve").click()
    await approver.get_by_role("status").get_by_text("Recorded: you approved the risk review gate").wait_for()
    await approver.screenshot(path=str(SCREENSHOTS / "approvals.png"), full_page=True)
    await requester.goto(site.url)  # where it stands, for the requester
    # Its gates fall due two seconds after they open: on a slow machine this page may come later.
    waits = re.compile(r"security review gate \(security\), (due in|overdue by)")
    await requester.get_by_role("row", name=name).get_by_text(waits).wait_for()
    await accessible(requester, "dashboard")
    await requester.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

    aims_owner = await site.page_for(AIMS)
    for _ in range(100):  # the security gate stalls after 2 s of real time on the dev server
        await aims_owner.goto(f"{site.url}/stalled")
        if name in await aims_owner.content():
            break
        await asyncio.sleep(0.2)
    assert name in await aims_owner.content()
    stalled_row = await aims_owner.get_by_role("row").filter(has_text=name).first.inner_text()
    assert "security review gate" in stalled_row and "overdue by" in stalled_row, stalled_row
    await aims_owner.screenshot(path=str(SCREENSHOTS / "stalled.png"), full_page=True)
    await aims_owner.goto(f"{site.url}/use-cases?q={name}")
    await aims_owner.get_by_text("1 use case", exact=True).wait_for()
    await aims_owner.screenshot(path=str(SCREENSHOTS / "register.png"), full_page=True)
    await aims_owner.goto(f"{site.url}/use-cases/{use_case_id}")
    await aims_owner.get_by_text("hash chain verified").wait_for()
    await aims_owner.screenshot(path=str(SCREENSHOTS / "use-case.png"), full_page=True)


# ---------------------------------------------------------------- the new pages, and accessibility

SERIOUS = {"serious", "critical"}


async def accessible(page: Page, what: str) -> None:
    """axe-core finds no serious or critical violation on the page as it is now."""
    results = await Axe().run(page)
    found = [
        (violation["id"], violation["impact"], [node["target"] for node in violation["nodes"]][:3])
        for violation in results.response["violations"]
        if violation["impact"] in SERIOUS
    ]
    assert not found, f"{what}: {found}"


async def test_a_requester_drafts_an_owner_assesses_and_everyone_sets_notifications_accessibly(site: Site):
    requester = await site.page_for(REQ)
    await accessible(requester, "dashboard")
    await requester.goto(f"{site.url}/use-cases/new")
    await accessible(requester, "intake, first step")
    name = f"Drafted {uuid.uuid4().hex[:6]}"
    await requester.get_by_label("What it does").fill("Suggests replies to customer e-mails")
    await requester.get_by_role("button", name="Save and continue").click()  # no name yet
    await requester.get_by_role("alert").get_by_text("Please fix the").wait_for()
    await accessible(requester, "intake step with an error")
    await requester.get_by_label("Name of the use case").fill(name)
    await requester.get_by_role("button", name="Save draft and leave").click()
    await requester.get_by_role("heading", name=re.compile(r"^Your drafts \(\d+\)$")).wait_for()
    await requester.screenshot(path=str(SCREENSHOTS / "dashboard-drafts.png"), full_page=True)
    await requester.get_by_role("link", name=name).click()  # back where it was left
    assert await requester.get_by_label("What it does").input_value() == "Suggests replies to customer e-mails"
    await fill_intake(requester, changed(code_assistant(), name=name))
    await accessible(requester, "intake review")
    await requester.get_by_role("button", name="Submit").click()
    await requester.get_by_role("status").get_by_text("Submitted").wait_for()
    await accessible(requester, "use case page")
    use_case_id = requester.url.split("/use-cases/")[1].split("?")[0]

    owner = await site.page_for(OWNER)
    await owner.goto(f"{site.url}/use-cases/{use_case_id}")
    await owner.get_by_role("link", name="Fill in the risk and impact assessment").click()
    await owner.get_by_role("heading", name="Risk and impact assessment").wait_for()
    await accessible(owner, "assessment form")
    await owner.get_by_role("button", name="Add a risk").click()
    await owner.get_by_role("group", name="Risk 2").wait_for()
    risk = owner.get_by_role("group", name="Risk 2")
    await risk.get_by_label("What could go wrong").fill("Replies leak another customer's data")
    await risk.get_by_label("How likely").select_option("2")
    await risk.get_by_label("How bad").select_option("4")
    await risk.get_by_label("What we do about it").select_option("mitigate")
    await risk.get_by_role("searchbox").fill("data")  # the filter box (JavaScript) narrows the controls
    controls = risk.get_by_label("Annex A controls that treat it")
    assert await controls.locator("option:not([hidden])").count() < 10
    await controls.select_option(["A.7.4"])
    await owner.get_by_label("Your conclusion").fill("Acceptable with the two mitigations above")
    await owner.screenshot(path=str(SCREENSHOTS / "assessment.png"), full_page=True)
    await owner.get_by_role("button", name="Submit the assessment").click()
    await owner.get_by_role("status").get_by_text("Recorded: your risk and impact assessment").wait_for()
    state = await (await owner.request.get(f"{site.url}/api/use-cases/{use_case_id}",
                                           headers={"Authorization": f"Bearer {site.tokens[OWNER]}"})).json()  # fmt: skip
    assert state["status"] == "in_review" and len(state["assessment"]["risks"]) >= 2

    await owner.goto(f"{site.url}/settings/notifications")
    await accessible(owner, "notification settings")
    await owner.get_by_label("One daily digest").check()
    await owner.get_by_role("button", name="Save").click()
    await owner.get_by_role("status").get_by_text("Saved").wait_for()
    assert await owner.get_by_label("One daily digest").is_checked()
    await owner.screenshot(path=str(SCREENSHOTS / "notification-settings.png"), full_page=True)
    await owner.get_by_label("As they happen").check()
    await owner.get_by_role("button", name="Save").click()


async def test_every_page_of_the_governance_roles_is_accessible(site: Site):
    aims_owner = await site.page_for(AIMS)
    for path in ("/use-cases", "/approvals", "/stalled", "/soa", "/nonconformities", "/reports/management-review"):
        await aims_owner.goto(f"{site.url}{path}")
        await accessible(aims_owner, path)
    await aims_owner.goto(f"{site.url}/soa/propose")
    await accessible(aims_owner, "/soa/propose")
    await aims_owner.screenshot(path=str(SCREENSHOTS / "soa-propose.png"))
    admin = await site.page_for(ADMIN)
    await admin.goto(f"{site.url}/admin/users")
    await accessible(admin, "/admin/users")
    await admin.screenshot(path=str(SCREENSHOTS / "admin-users.png"), full_page=True)
    anonymous = await (await site.browser.new_context()).new_page()
    await anonymous.goto(f"{site.url}/sign-in")
    await accessible(anonymous, "/sign-in")


async def test_the_openapi_page_works_without_the_internet(site: Site):
    """Swagger UI renders every operation from this server alone, the policy blocks nothing, and
    "Try it out" calls the API with the token given to "Authorize"."""
    page = await (await site.browser.new_context()).new_page()
    elsewhere: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(site.url) else elsewhere.append(request.url))
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    await page.goto(f"{site.url}/docs")
    await page.locator(".opblock-summary").first.wait_for()
    assert await page.locator(".opblock-summary").count() > 40
    await page.locator(".auth-wrapper").get_by_role("button", name="Authorize").click()
    await page.locator(".auth-container input").first.fill(site.tokens[REQ])
    await page.get_by_role("button", name="Apply credentials").click()
    await page.locator(".dialog-ux").get_by_role("button", name="Close", exact=True).click()
    await page.locator(".opblock-summary", has_text="/api/me").first.click()
    await page.get_by_role("button", name="Try it out").click()
    await page.get_by_role("button", name="Execute").click()
    answer = page.locator(".live-responses-table tr.response .response-col_status").first
    await answer.wait_for()
    assert (await answer.inner_text()).strip() == "200"
    assert REQ in await page.locator(".live-responses-table tr.response .response-col_description").first.inner_text()
    assert not elsewhere and not problems, (elsewhere, problems)
