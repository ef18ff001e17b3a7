"""E-mail, the second channel: a real SMTP server in-process (aiosmtpd), real workers on the
Temporal dev server (and the time-skipping one for the governance ladders), every notice kind
as HTML and text, a server that refuses and one that is down, the daily digest."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import smtplib
import time
import typing
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from temporalio.testing import WorkflowEnvironment

from activities.channels import Delivery, GateSummary, PermanentDeliveryError, Recipient, StalledItem, UseCaseSummary
from activities.digest import DigestActivities
from aims.application.gateway import UseCaseGateway
from aims.domain import nonconformity as nc
from aims.domain import soa
from aims.domain.state import Actor, NoticeKind
from aims.persistence import nonconformities as nc_records
from aims.persistence import users
from aims.persistence.db import migrate, transaction
from aims.persistence.models import Delivery as DeliveryRow
from aims.persistence.models import Notification
from aims.persistence.soa import add_draft
from aims.settings import SmtpSettings
from api.app import create_app
from notifications.email.channel import EmailChannel
from tests import people
from tests.conftest import worker_for
from tests.intakes import ASSESSMENT, code_assistant
from tests.net import free_port
from tests.test_api import AIMS, OWNER, REQ, RISK, Api, settings_for
from tests.test_slack import eventually
from tests.test_soa import EXEC, full_soa
from tests.test_web import csrf_of, sign_in

PUBLIC = "https://aims.example"
GOVERNANCE = "governance@aims.example"


class Mailbox:
    """An SMTP server's handler that keeps what it accepts and refuses the addresses it is told to."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str, subject_part: str = "") -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"]) and subject_part in str(m["Subject"])]


def smtp_server(port: int) -> tuple[Controller, Mailbox]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, mailbox


def smtp_settings(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender="aims <aims@aims.example>", governance=GOVERNANCE,
                        timeout_seconds=2)  # fmt: skip


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[SmtpSettings, Mailbox]]:
    port = free_port()
    controller, mailbox = smtp_server(port)
    yield smtp_settings(port), mailbox
    controller.stop()


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None, "both an HTML and a plain-text body"
    return text.get_content(), html.get_content()


def use_case(name: str = "Support chatbot") -> UseCaseSummary:
    return UseCaseSummary(
        id="uc-1", name=name, status="in_review", version=2, aims_tier="T2_MEDIUM", regulatory_category="MINIMAL",
        requester=REQ, business_owner=OWNER, purpose="Answers <customers>", triggered_rules=["SEC-2"],
        link=f"{PUBLIC}/use-cases/uc-1",
    )  # fmt: skip


def notice(kind: str, **changes: Any) -> Delivery:
    summary = use_case()
    gate = GateSummary(id="v2-review-risk", role="risk", kind="review", version=2, state="open",
                       due_at="2027-01-09T09:00:00+00:00", link=f"{summary.link}#gate-v2-review-risk")  # fmt: skip
    values: dict[str, Any] = dict(
        notice_key=f"2:{kind}:x", kind=kind, subject=f"Support chatbot: {kind.replace('_', ' ')}",
        recipient=Recipient(email=RISK, name="Risk"), topic="uc-1", title=summary.name, link=gate.link,
        use_case=summary, gate=gate, offers=["decide", "open"] if kind.startswith("gate_") else ["open"],
        detail="Because <b>reasons</b>",
    )  # fmt: skip
    return Delivery(**(values | changes))


# ---------------------------------------------------------------- the messages


def test_every_notice_kind_is_an_html_and_text_email_with_a_link_to_the_page(smtp):
    settings, mailbox = smtp
    channel = EmailChannel(settings, PUBLIC)
    for kind in typing.get_args(NoticeKind):
        reference = channel.deliver(notice(kind))
        message = next(m for m in mailbox.messages if m["Message-ID"] == reference)
        text, html = parts(message)
        assert kind.replace("_", " ") in str(message["Subject"]) and message["Auto-Submitted"] == "auto-generated"
        assert f"{PUBLIC}/use-cases/uc-1#gate-v2-review-risk" in text and "#gate-v2-review-risk" in html, kind
        assert "Because <b>reasons</b>" in text and "Because &lt;b&gt;reasons&lt;/b&gt;" in html  # escaped in HTML
        assert f"{PUBLIC}/settings/notifications" in text
        assert "decision=approve" not in text + html  # never a one-click approve
    prompt = next(m for m in mailbox.messages if "gate request" in str(m["Subject"]))
    assert "Open the decision form" in parts(prompt)[1] and "Nothing is decided from this e-mail" in parts(prompt)[0]


def test_a_retry_carries_the_same_message_id_and_a_reminder_threads_under_its_prompt(smtp):
    settings, mailbox = smtp
    channel = EmailChannel(settings, PUBLIC)
    first = channel.deliver(notice("gate_request", notice_key="9:gate_request:v2-review-risk"))
    again = channel.deliver(notice("gate_request", notice_key="9:gate_request:v2-review-risk"))
    assert first == again  # the mail client shows it once
    reminder = channel.deliver(notice("gate_reminder", notice_key="9:gate_reminder:1", thread_of=first))
    message = next(m for m in mailbox.messages if m["Message-ID"] == reminder)
    assert message["In-Reply-To"] == first
    name = channel.deliver(notice("decision", subject="Evil\r\nBcc: victim@example.com", notice_key="evil"))
    injected = next(m for m in mailbox.messages if m["Message-ID"] == name)
    assert injected["Bcc"] is None and "Evil Bcc:" in str(injected["Subject"])


def test_a_decided_gate_sends_no_prompt_and_governance_notices_go_to_the_list(smtp):
    settings, mailbox = smtp
    channel = EmailChannel(settings, PUBLIC)
    closed = notice("gate_request").gate.model_copy(update={"state": "approved"})  # type: ignore[union-attr]
    assert channel.deliver(notice("gate_request", gate=closed)) is None
    broadcast = channel.deliver(notice("gate_stalled", recipient=None, notice_key="stalled"))
    assert next(m for m in mailbox.messages if m["Message-ID"] == broadcast)["To"] == GOVERNANCE
    without_list = EmailChannel(dataclasses.replace(settings, governance=None), PUBLIC)
    assert without_list.deliver(notice("gate_stalled", recipient=None)) is None
    item = StalledItem(use_case_id="uc-1", name="Support chatbot", kind="gate", label="risk review gate",
                       since="2027-01-04", due_at="2027-01-09", executive_told=False, link=f"{PUBLIC}/use-cases/uc-1")  # fmt: skip
    digest = channel.digest("2027-01-10", [item])
    assert "risk review gate" in parts(next(m for m in mailbox.messages if m["Message-ID"] == digest))[0]


def test_a_refusing_server_is_permanent_for_that_address_and_a_busy_one_is_retried(smtp):
    settings, mailbox = smtp
    channel = EmailChannel(settings, PUBLIC)
    mailbox.refuse[RISK] = "550 5.1.1 no such mailbox"
    with pytest.raises(PermanentDeliveryError, match="smtp_recipient_refused_550"):
        channel.deliver(notice("decision", notice_key="refused"))
    mailbox.refuse[RISK] = "451 4.3.0 try again later"
    with pytest.raises(smtplib.SMTPRecipientsRefused):  # not permanent: the activity retries it
        channel.deliver(notice("decision", notice_key="busy"))
    mailbox.refuse.clear()
    down = EmailChannel(smtp_settings(free_port()), PUBLIC)
    with pytest.raises(OSError):  # nobody listening: retried too
        down.deliver(notice("decision", notice_key="down"))


# ---------------------------------------------------------------- end to end


@dataclasses.dataclass
class Mail:
    api: Api
    http: httpx.AsyncClient
    mailbox: Mailbox
    database_url: str
    smtp: SmtpSettings
    app: Any


@pytest.fixture(scope="module")
async def mail(dev_env: WorkflowEnvironment, database_url: str, smtp) -> AsyncIterator[Mail]:
    """aims with e-mail as its only channel: the reviewers here do not use Slack."""
    settings, mailbox = smtp
    task_queue = f"email-{uuid.uuid4()}"
    tokens = people.seed(database_url)
    app_settings = dataclasses.replace(settings_for(database_url, task_queue), smtp=settings, public_url=PUBLIC)
    app = create_app(app_settings, client=dev_env.client)
    async with worker_for(dev_env.client, task_queue, database_url, [EmailChannel(settings, PUBLIC)], PUBLIC):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aims.test") as http:
            yield Mail(Api(http, tokens), http, mailbox, database_url, settings, app)


async def test_a_reviewer_who_only_uses_email_gets_the_prompt_and_decides_through_its_link(mail: Mail):
    uc = (await mail.api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
    await mail.api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
    prompt = await eventually(lambda: next(iter(mail.mailbox.to(RISK, "risk decision needed")), None))
    text, html = parts(prompt)
    link = re.search(rf"{PUBLIC}(/use-cases/{uc}#gate-v1-review-risk)", text)
    assert link and "Internal code assistant" in text and "Open the decision form" in html
    page_path = link.group(1).split("#")[0]
    # The public URL is https: the session cookie is Secure, as a browser on that URL gets it.
    transport = httpx.ASGITransport(app=mail.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://aims.test") as browser:
        assert (await sign_in(browser, mail.api.tokens[RISK])).status_code == 303
        page = await browser.get(page_path)
        assert 'id="gate-v1-review-risk"' in page.text and f"/use-cases/{uc}/gates/v1-review-risk/decision" in page.text
        decided = await browser.post(
            f"/use-cases/{uc}/gates/v1-review-risk/decision",
            data={"csrf": csrf_of(page.text), "version": "1", "decision": "approve", "comment": "", "back": ""},
        )  # fmt: skip
        assert decided.status_code == 303
    state = (await mail.api.get(AIMS, f"/api/use-cases/{uc}")).json()
    assert next(g for g in state["gates"] if g["id"] == "v1-review-risk")["decided_by"] == RISK
    inbox = (await mail.api.get(RISK, "/api/notifications")).json()
    delivered = next(n for n in inbox if n["use_case_id"] == uc and n["kind"] == "gate_request")
    assert [(d["channel"], bool(d["delivered_at"])) for d in delivered["deliveries"]] == [("email", True)]


async def test_a_person_on_the_daily_digest_gets_one_message_a_day(mail: Mail):
    with transaction(mail.database_url) as session:
        owner = users.user_by_email(session, OWNER)
        users.set_listening(owner, muted=[], daily_digest=True)
    try:
        uc = (await mail.api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
        with transaction(mail.database_url) as session:
            held = session.query(DeliveryRow).join(Notification).filter(Notification.use_case_id == uc,
                                                                        Notification.recipient == OWNER).all()  # fmt: skip
            assert held and all(row.digest and row.delivered_at is None for row in held)
        assert not [m for m in mail.mailbox.to(OWNER) if uc in parts(m)[0]]  # nothing one by one
        digests = DigestActivities(mail.database_url, [EmailChannel(mail.smtp, PUBLIC)], PUBLIC)
        digests.post_digest("2027-01-05")
        digest = mail.mailbox.to(OWNER, "for you, 2027-01-05")
        assert len(digest) == 1 and "submit the risk and impact assessment" in parts(digest[0])[0]
        assert re.fullmatch(r"aims: (1 notice|\d+ notices) for you, 2027-01-05", digest[0]["Subject"])
        digests.post_digest("2027-01-05")  # a second run the same day sends nothing again
        assert len(mail.mailbox.to(OWNER, "for you, 2027-01-05")) == 1
        with transaction(mail.database_url) as session:
            rows = session.query(DeliveryRow).join(Notification).filter(Notification.use_case_id == uc,
                                                                        Notification.recipient == OWNER).all()  # fmt: skip
            assert all(row.delivered_at is not None and row.reference == digest[0]["Message-ID"] for row in rows)
    finally:
        with transaction(mail.database_url) as session:
            users.set_listening(users.user_by_email(session, OWNER), muted=[], daily_digest=False)


async def test_a_server_that_is_down_loses_nothing_and_sends_once_when_it_is_back(
    dev_env: WorkflowEnvironment, database_url: str, mail: Mail
):
    port = free_port()
    settings = smtp_settings(port)
    task_queue = f"email-down-{uuid.uuid4()}"
    tokens = mail.api.tokens
    app = create_app(dataclasses.replace(settings_for(database_url, task_queue), smtp=settings, public_url=PUBLIC),
                     client=dev_env.client)  # fmt: skip
    async with worker_for(dev_env.client, task_queue, database_url, [EmailChannel(settings, PUBLIC)], PUBLIC):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aims.test") as http:
            api = Api(http, tokens)
            uc = (await api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
            await api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)  # prompts for risk and security
            handle = dev_env.client.get_workflow_handle(f"ai-use-case:{uc}")

            async def retrying() -> bool:  # the delivery failed against the closed port and waits to retry
                pending = (await handle.describe()).raw_description.pending_activities
                return any(activity.attempt >= 2 for activity in pending)

            await eventually_async(retrying)
            with transaction(database_url) as session:
                rows = session.query(DeliveryRow).join(Notification).filter(Notification.use_case_id == uc).all()
                assert rows and all(row.delivered_at is None and row.error is None for row in rows)  # nothing lost
            controller, mailbox = smtp_server(port)  # the server comes back
            try:
                prompt = await eventually(lambda: next(iter(mailbox.to(RISK, "risk decision needed")), None), seconds=40)
                def sent() -> bool:
                    with transaction(database_url) as session:
                        rows = session.query(DeliveryRow).join(Notification).filter(Notification.use_case_id == uc).all()
                        return all(row.delivered_at is not None for row in rows)
                await eventually(sent, seconds=40)
                assert [m["Message-ID"] for m in mailbox.messages].count(prompt["Message-ID"]) == 1
            finally:
                controller.stop()


async def eventually_async(check: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- the AIMS as a whole


async def test_soa_proposals_corrective_actions_and_reviews_reach_people_by_email(
    time_env: WorkflowEnvironment, tmp_path: Path, smtp
):
    settings, mailbox = smtp
    database_url = f"sqlite:///{tmp_path / 'governance.db'}"
    migrate(database_url)
    now = dt.datetime.now(dt.UTC)
    with transaction(database_url) as session:
        for email, roles in ((EXEC, ["executive"]), (AIMS, ["aims_owner"]), (OWNER, ["requester"])):
            users.add_user(session, email=email, name=email.split("@")[0], roles=roles, slack_user_id=None, now=now,
                           by="tests")  # fmt: skip
        draft = add_draft(session, soa.SoaProposal.model_validate(full_soa("Tighter logging")), AIMS, now, str(uuid.uuid4())).number
        body = nc.RaiseNonconformity.model_validate(
            {"source": "audit_finding", "description": "Logs kept 3 months, not 6",
             "action": {"description": "Keep logs 6 months", "owner": OWNER,
                        "due_at": (now + dt.timedelta(days=14)).isoformat()}}  # fmt: skip
        )
        number = nc_records.add_draft(session, body, AIMS, now, str(uuid.uuid4())).number
    aims, executive = Actor(email=AIMS, roles=["aims_owner"]), Actor(email=EXEC, roles=["executive"])
    queue = f"governance-{uuid.uuid4()}"
    async with worker_for(time_env.client, queue, database_url, [EmailChannel(settings, PUBLIC)], PUBLIC):
        gateway = UseCaseGateway(time_env.client, queue)
        handle = await time_env.client.start_workflow("StatementOfApplicability", soa.SoaInput(),
                                                      id=f"soa-{uuid.uuid4()}", task_queue=queue)  # fmt: skip
        await handle.execute_update("propose_soa", soa.ProposeSoa(actor=aims, draft=draft), result_type=soa.SoaAck)
        await gateway.open_nonconformity(number)
        asked = await eventually(lambda: next(iter(mailbox.to(EXEC, f"proposal {draft} waits")), None))
        assert f"{PUBLIC}/soa" in parts(asked)[0] and "Tighter logging" in parts(asked)[0]
        assigned = await eventually(lambda: next(iter(mailbox.to(OWNER, f"Nonconformity {number}: a corrective")), None))
        assert f"{PUBLIC}/nonconformities/{number}" in parts(assigned)[0]

        await time_env.sleep(dt.timedelta(days=30))  # both climb their ladders to the executives
        for who, subject in ((EXEC, f"proposal {draft} waits for your decision"),
                             (AIMS, f"proposal {draft} is past its deadline"),
                             (OWNER, f"Nonconformity {number}: the corrective action is due"),
                             (AIMS, f"Nonconformity {number}: the corrective action is late")):  # fmt: skip
            await eventually(lambda: mailbox.to(who, subject))
        assert mailbox.to(GOVERNANCE, "escalated to the executives")  # the governance list hears the top rungs

        await handle.execute_update("decide_soa", soa.DecideSoa(actor=executive, number=draft, decision="approve"),
                                    result_type=soa.SoaAck)  # fmt: skip
        await eventually(lambda: mailbox.to(AIMS, f"proposal {draft} approved by {EXEC}: version 1 is in force"))
        done = nc.NcCommand(actor=Actor(email=OWNER, roles=["requester"]), kind="complete",
                            complete=nc.CompleteAction(note="Retention set to 6 months"))  # fmt: skip
        await gateway.act_on_nonconformity(number, done, "done-1")
        check = await eventually(lambda: next(iter(mailbox.to(AIMS, f"Nonconformity {number}: the corrective action is done")), None))
        assert "Retention set to 6 months" in parts(check)[0]

        review = await time_env.client.execute_workflow("QuarterlyManagementReview", id=f"review-{uuid.uuid4()}",
                                                        task_queue=queue, result_type=int)  # fmt: skip
        for who in (AIMS, EXEC):
            due = await eventually(lambda: next(iter(mailbox.to(who, "management review of")), None))
            assert "/reports/management-review?from=" in parts(due)[0] and review >= 1


async def test_a_person_chooses_their_channels_and_the_daily_digest_over_the_api_and_the_page(mail: Mail):
    initial = (await mail.api.get(RISK, "/api/me/notifications")).json()
    assert initial == {"channels": [{"name": "email", "label": "E-mail", "enabled": True}], "muted_channels": [],
                       "daily_digest": False}  # fmt: skip
    unknown = await mail.http.put("/api/me/notifications", json={"muted_channels": ["pigeon"]},
                                  headers={"Authorization": f"Bearer {mail.api.tokens[RISK]}"})  # fmt: skip
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "muted_channels", 0]
    try:
        muted = await mail.http.put("/api/me/notifications", json={"muted_channels": ["email"]},
                                    headers={"Authorization": f"Bearer {mail.api.tokens[RISK]}"})  # fmt: skip
        assert muted.json()["channels"][0]["enabled"] is False
        uc = (await mail.api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
        await mail.api.ok(OWNER, f"/api/use-cases/{uc}/assessment", ASSESSMENT)
        await eventually(lambda: mail.mailbox.to("security@example.com", "security decision needed"))
        inbox = (await mail.api.get(RISK, "/api/notifications")).json()
        prompt = next(n for n in inbox if n["use_case_id"] == uc and n["kind"] == "gate_request")
        assert prompt["deliveries"] == []  # in the inbox, on no channel
        assert not [m for m in mail.mailbox.to(RISK) if uc in parts(m)[0]]

        transport = httpx.ASGITransport(app=mail.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://aims.test") as browser:
            await sign_in(browser, mail.api.tokens[RISK])
            page = await browser.get("/settings/notifications")
            assert 'name="listen" value="email"' in page.text and "checked" not in page.text.split('value="email"')[1][:12]
            refused = await browser.post("/settings/notifications", data={"listen": "email", "delivery": "daily_digest"})
            assert refused.status_code == 403  # no CSRF token
            saved = await browser.post("/settings/notifications", data={
                "csrf": csrf_of(page.text), "listen": "email", "delivery": "daily_digest"})  # fmt: skip
            assert saved.status_code == 303
        assert (await mail.api.get(RISK, "/api/me/notifications")).json()["daily_digest"] is True
    finally:
        await mail.http.put("/api/me/notifications", json={"muted_channels": [], "daily_digest": False},
                            headers={"Authorization": f"Bearer {mail.api.tokens[RISK]}"})  # fmt: skip
