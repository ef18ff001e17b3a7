"""Evidence an auditor accepts: chains that show tampering, signed daily checkpoints, signed
bundles verified offline by the standalone verifier, and the read-only auditor role.

Tampering needs someone who goes around aims: these tests drop the append-only triggers of a
database of their own, as an attacker with database access would."""

from __future__ import annotations

import ast
import asyncio
import base64
import datetime as dt
import io
import json
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from activities.checkpoint import sign_checkpoint
from aims import audit, verify_evidence
from aims.application import evidence
from aims.persistence import chains, users
from aims.persistence.db import engine_for, migrate, transaction
from aims.persistence.register import record_transition
from aims.signing import load_signing_key
from tests import domain_kit as kit
from tests.conftest import TEST_SIGNING_KEY_FILE, repo_root, worker_for
from tests.intakes import changed, code_assistant
from tests.test_api import AIMS, OWNER, REQ, RISK, Api, api  # noqa: F401 - `api` is the fixture

KEY = load_signing_key(TEST_SIGNING_KEY_FILE)
NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)  # an earlier day than the test run


@pytest.fixture
def register(tmp_path: Path) -> str:
    """A database of its own: two use cases along their lifecycle, a user change, a checkpoint."""
    database_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    migrate(database_url)
    with transaction(database_url) as session:
        users.add_user(session, email=AIMS, name="Aims", roles=["aims_owner"], slack_user_id=None, now=NOW, by="tests")
        for index in range(2):
            state, transition = kit.begin(changed(code_assistant(), name=f"Case {index}"), REQ, NOW)
            state = state.model_copy(update={"id": str(uuid.UUID(int=index + 1))})
            record_transition(session, state, transition, NOW, channels=[])
            state, transition = kit.apply(state, kit.assess(kit.OWNER), NOW)
            record_transition(session, state, transition, NOW, channels=[])
    sign_checkpoint(database_url, TEST_SIGNING_KEY_FILE, NOW.date().isoformat(), NOW)
    return database_url


def bundle_of(database_url: str, chain_ids: list[str] | None = None) -> bytes:
    target = io.BytesIO()
    evidence.write_bundle(target, database_url, chain_ids=chain_ids, scope={"kind": "aims"}, exported_by=AIMS,
                          key=KEY, now=NOW)  # fmt: skip
    return target.getvalue()


def verify(bundle: bytes, tmp_path: Path) -> verify_evidence.Verified:
    path = tmp_path / f"bundle-{uuid.uuid4().hex[:6]}.zip"
    path.write_bytes(bundle)
    return verify_evidence.verify_bundle(path, KEY.public_pem)


def rewritten(bundle: bytes, name: str, change) -> bytes:
    """The bundle with one file changed (everything else as it was)."""
    source = zipfile.ZipFile(io.BytesIO(bundle))
    target = io.BytesIO()
    with zipfile.ZipFile(target, "w") as out:
        for item in source.namelist():
            content = source.read(item)
            out.writestr(item, change(content) if item == name else content)
    return target.getvalue()


def lines(change):
    return lambda content: b"".join(line + b"\n" for line in change(content.splitlines()))


# ---------------------------------------------------------------- offline verification


def test_an_untouched_bundle_verifies_and_says_how_much(register: str, tmp_path: Path):
    result = verify(bundle_of(register), tmp_path)
    assert (result.chains, result.checkpoints) == (3, 1)  # two use cases and the system chain
    with transaction(register) as session:
        assert result.events == sum(head["length"] for head in chains.heads(session)) - 1  # minus this export's own


def _flip_byte(content: bytes) -> bytes:
    second = content.splitlines()[1]
    position = second.index(b'"actor":"') + len(b'"actor":"')
    return content.replace(second, second[:position] + b"X" + second[position + 1:], 1)


def _shorter_head(content: bytes) -> bytes:
    checkpoints = json.loads(content)
    checkpoints[0]["chains"][0]["length"] -= 1
    return verify_evidence.canonical(checkpoints)


TAMPERING = {
    "one byte": (verify_evidence.EVENTS, _flip_byte, "events.jsonl line 2: chain", "changed after it was written"),
    "one line removed": (verify_evidence.EVENTS, lines(lambda ls: ls[:1] + ls[2:]), "events.jsonl line 2", "missing or out of order"),
    "order": (verify_evidence.EVENTS, lines(lambda ls: [ls[1], ls[0], *ls[2:]]), "events.jsonl line 1", "missing or out of order"),
    "tail cut": (verify_evidence.EVENTS, lines(lambda ls: ls[:-1]), "events.jsonl", "truncated or rewritten"),
    "manifest": (verify_evidence.MANIFEST, lambda c: c.replace(b'"aims"', b'"aimz"'), "manifest.sig", "does not verify"),
    "signature": (verify_evidence.SIGNATURE, lambda c: base64.b64encode(b"\0" * 64), "manifest.sig", "does not verify"),
    "checkpoint": (verify_evidence.CHECKPOINTS, lambda c: _shorter_head(c), "checkpoints.json", "signature"),
}  # fmt: skip


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_tampering_is_located_to_the_file_and_line(register: str, tmp_path: Path, tampering: str):
    name, change, where, why = TAMPERING[tampering]
    with pytest.raises(verify_evidence.BundleError) as refused:
        verify(rewritten(bundle_of(register), name, change), tmp_path)
    assert str(refused.value).startswith(where) and why in str(refused.value), str(refused.value)


def test_another_key_does_not_verify(register: str, tmp_path: Path):
    other = tmp_path / "other.pem"
    from aims.signing import new_signing_key

    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle_of(register))
    with pytest.raises(verify_evidence.BundleError, match="manifest.sig"):
        verify_evidence.verify_bundle(path, new_signing_key(other).public_pem)


def test_the_standalone_verifier_needs_only_python_and_cryptography(register: str, tmp_path: Path):
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(ast.parse(Path(verify_evidence.__file__).read_text()))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert imported <= set(sys.stdlib_module_names) | {"cryptography", "__future__"}, imported
    # Run as an auditor would: the file alone, in an empty directory, isolated from aims.
    alone = tmp_path / "auditor"
    alone.mkdir()
    (alone / "verify_evidence.py").write_text(Path(verify_evidence.__file__).read_text())
    (alone / "key.pem").write_bytes(KEY.public_pem)
    (alone / "bundle.zip").write_bytes(bundle_of(register))
    command = [sys.executable, "-I", "verify_evidence.py", "bundle.zip", "--public-key", "key.pem"]
    good = subprocess.run(command, cwd=alone, capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and good.stdout.startswith("verified: ") and "in 3 chains" in good.stdout, good
    (alone / "bundle.zip").write_bytes(rewritten(bundle_of(register), verify_evidence.EVENTS, _flip_byte))
    bad = subprocess.run(command, cwd=alone, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "events.jsonl line 2" in bad.stderr, bad


# ---------------------------------------------------------------- the database's own chains


def _go_around_aims(database_url: str, *statements: str) -> None:
    with engine_for(database_url).begin() as connection:
        connection.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
        connection.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        for statement in statements:
            connection.execute(text(statement))


def _check(database_url: str, chain_id: str) -> chains.ChainCheck:
    with transaction(database_url) as session:
        return chains.verify(session, chain_id, KEY.private.public_key())


def test_an_edited_deleted_or_truncated_event_in_the_database_shows(register: str):
    case = str(uuid.UUID(int=1))
    assert _check(register, case).verified
    _go_around_aims(register, f"UPDATE audit_events SET actor = 'mallory' WHERE chain_id = '{case}' AND seq = 1")
    check = _check(register, case)
    assert (check.verified, check.first_broken_seq) == (False, 1) and "changed" in check.reason

    other = str(uuid.UUID(int=2))
    last = _check(register, other).length
    _go_around_aims(register, f"DELETE FROM audit_events WHERE chain_id = '{other}' AND seq = {last}")
    check = _check(register, other)
    assert not check.verified and "head says" in check.reason


def test_a_chain_rewritten_consistently_still_disagrees_with_the_signed_checkpoint(register: str, tmp_path: Path):
    """Someone with the database but not the key recomputes every hash and the head: the
    checkpoint signed this morning still shows it, in the database and offline."""
    case = str(uuid.UUID(int=1))
    with transaction(register) as session:
        rows = [audit.as_exported(e) for e in chains.events(session, case)]
    previous, statements = audit.GENESIS, []
    for row in rows:
        row["actor"] = "mallory@example.com" if row["seq"] == 1 else row["actor"]
        row["prev_hash"] = previous
        row["hash"] = audit.event_hash(use_case_id=case, seq=row["seq"], type=row["type"], actor=row["actor"],
                                       at=row["at"], version=row["version"], data=row["data"], prev_hash=previous)  # fmt: skip
        statements.append(f"UPDATE audit_events SET actor = '{row['actor']}', prev_hash = '{previous}', "
                          f"hash = '{row['hash']}' WHERE chain_id = '{case}' AND seq = {row['seq']}")  # fmt: skip
        previous = row["hash"]
    statements.append(f"UPDATE audit_chains SET head_hash = '{previous}' WHERE chain_id = '{case}'")
    _go_around_aims(register, *statements)
    check = _check(register, case)
    assert not check.verified and "checkpoint" in check.reason
    with pytest.raises(verify_evidence.BundleError, match="checkpoints.json: checkpoint 1"):
        verify(bundle_of(register), tmp_path)


def test_aims_audit_verify_and_aims_verify_exit_codes(register: str, tmp_path: Path):
    environment = {"AIMS_DATABASE_URL": register, "AIMS_SIGNING_KEY_FILE": str(TEST_SIGNING_KEY_FILE)}

    def aims(*args: str) -> subprocess.CompletedProcess[str]:
        import os

        return subprocess.run([sys.executable, "-m", "aims.cli", *args], env=os.environ | environment,
                              capture_output=True, text=True, timeout=60, cwd=repo_root())  # fmt: skip

    assert aims("audit", "verify").stdout.strip().endswith("3 of 3 chains verified")
    (tmp_path / "key.pem").write_bytes(KEY.public_pem)
    (tmp_path / "bundle.zip").write_bytes(bundle_of(register))
    verified = aims("verify", str(tmp_path / "bundle.zip"), "--public-key", str(tmp_path / "key.pem"))
    assert verified.returncode == 0 and verified.stdout.startswith("verified:")
    _go_around_aims(register, "UPDATE audit_events SET type = 'forged' WHERE seq = 2")
    broken = aims("audit", "verify")
    assert broken.returncode == 1 and "NOT verified at event 2" in broken.stdout


# ---------------------------------------------------------------- the daily checkpoint


async def test_the_daily_checkpoint_is_signed_once_a_day(time_env: WorkflowEnvironment, register: str):
    # The clock is not skipped here: both runs fall on the same day, as a retried schedule would.
    async with worker_for(time_env.client, "checkpoints", register):
        with time_env.auto_time_skipping_disabled():
            for _ in range(2):
                await time_env.client.execute_workflow("DailyCheckpoint", id=f"checkpoint-{uuid.uuid4()}",
                                                       task_queue="checkpoints")  # fmt: skip
    with transaction(register) as session:
        signed = chains.checkpoints(session)
        assert len(signed) == 2  # the fixture's (NOW) and today's, once
        assert signed[-1].chains == chains.heads(session) and signed[-1].key_id == KEY.key_id


async def test_a_new_installation_gets_its_first_checkpoint_at_once(dev_env: WorkflowEnvironment, register: str):
    from aims.cli.worker import ensure_schedule

    schedule_id, task_queue = f"checkpoint-{uuid.uuid4()}", f"checkpoint-{uuid.uuid4()}"
    with transaction(register) as session:
        session.execute(text("DELETE FROM audit_checkpoints"))
    async with worker_for(dev_env.client, task_queue, register):
        await ensure_schedule(dev_env.client, schedule_id, "DailyCheckpoint", "15 0 * * *", task_queue, run_now=True)
        for _ in range(200):
            with transaction(register) as session:
                if chains.checkpoints(session):
                    break
            await asyncio.sleep(0.05)
    await dev_env.client.get_schedule_handle(schedule_id).delete()
    with transaction(register) as session:
        assert len(chains.checkpoints(session)) == 1


# ---------------------------------------------------------------- over the API, and the auditor


@pytest.fixture
def auditor(api: Api, database_url: str) -> str:
    email = f"auditor-{uuid.uuid4().hex[:6]}@example.com"
    with transaction(database_url) as session:
        _, api.tokens[email] = users.add_user(session, email=email, name="Auditor", roles=["auditor"],
                                              slack_user_id=None, now=dt.datetime.now(dt.UTC), by="tests")  # fmt: skip
    return email


async def test_exports_over_the_api_verify_with_the_published_key(api: Api, auditor: str, tmp_path: Path):
    from tests.intakes import ASSESSMENT

    use_case = (await api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
    await api.ok(OWNER, f"/api/use-cases/{use_case}/assessment", ASSESSMENT)
    pem = (await api.get(REQ, "/api/evidence/public-key")).content
    assert pem == KEY.public_pem
    one = await api.get(REQ, f"/api/use-cases/{use_case}/export")
    assert one.status_code == 200 and one.headers["content-type"] == "application/zip"
    assert verify(one.content, tmp_path).chains == 1
    assert (await api.get(RISK, "/api/evidence/export")).status_code == 403
    everything = await api.get(auditor, "/api/evidence/export")
    assert everything.status_code == 200 and verify(everything.content, tmp_path).chains >= 2
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(everything.content)).read(verify_evidence.MANIFEST))
    assert manifest["exported_by"] == auditor and manifest["scope"] == {"kind": "aims"}

    trail = (await api.get(AIMS, "/api/audit/system")).json()["events"]
    exported = [e for e in trail if e["type"] == "evidence_exported" and e["actor"] == auditor]
    assert exported and exported[-1]["data"]["manifest_sha256"] == __import__("hashlib").sha256(
        zipfile.ZipFile(io.BytesIO(everything.content)).read(verify_evidence.MANIFEST)
    ).hexdigest()
    verifier = await api.get(auditor, "/api/evidence/verifier")
    assert verifier.status_code == 200 and verifier.content == Path(verify_evidence.__file__).read_bytes()


async def test_an_auditor_reads_everything_and_acts_on_nothing(api: Api, auditor: str):
    from tests.intakes import ASSESSMENT

    use_case = (await api.ok(REQ, "/api/use-cases", code_assistant()))["id"]
    await api.ok(OWNER, f"/api/use-cases/{use_case}/assessment", ASSESSMENT)
    before = (await api.get(AIMS, f"/api/use-cases/{use_case}")).json()
    detail = await api.get(auditor, f"/api/use-cases/{use_case}")
    assert detail.status_code == 200 and detail.json()["you"] == {"email": auditor, "actions": [], "decidable_gates": []}
    for path in (f"/api/use-cases/{use_case}/audit", "/api/approvals/stalled", "/api/audit/system"):
        assert (await api.get(auditor, path)).status_code == 200, path
    refused = [
        await api.post(auditor, "/api/use-cases", code_assistant()),
        await api.decide(auditor, use_case, "v1-review-risk"),
        await api.post(auditor, f"/api/use-cases/{use_case}/incidents", {"severity": "serious", "description": "x"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403], [r.text for r in refused]
    assert all("auditor" in r.json()["detail"]["message"] for r in refused)
    assert (await api.get(AIMS, f"/api/use-cases/{use_case}")).json() == before
    me = (await api.get(auditor, "/api/me")).json()
    assert me["roles"] == ["auditor"]


def test_an_auditor_account_holds_no_other_role(database_url: str):
    with transaction(database_url) as session, pytest.raises(users.RoleError, match="no other role"):
        users.add_user(session, email=f"mixed-{uuid.uuid4().hex[:6]}@example.com", name="Mixed",
                       roles=["auditor", "risk"], slack_user_id=None, now=NOW, by="tests")  # fmt: skip


# ---------------------------------------------------------------- the evidence pack


def rasterised(pdf: bytes, tmp_path: Path, page: int = 1) -> Path:
    """Page `page` of the PDF as a PNG, by poppler's pdftoppm (as a reader's viewer would draw it)."""
    (tmp_path / "document.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", str(page), "-l", str(page), "-singlefile",
                    str(tmp_path / "document.pdf"), str(tmp_path / "page")], check=True, timeout=60)  # fmt: skip
    return tmp_path / "page.png"


def ink(png: Path) -> float:
    """The share of the page that is not white: 0 for a blank page."""
    from PIL import Image

    pixels = Image.open(png).convert("L").get_flattened_data()
    return sum(1 for value in pixels if value < 200) / len(pixels)


async def test_the_evidence_pack_has_every_record_as_html_and_pdf(api: Api, database_url: str, tmp_path: Path):
    from tests.intakes import ASSESSMENT, SIGNOFF, invoice_ocr

    use_case = (await api.ok(REQ, "/api/use-cases", changed(invoice_ocr(), name="Evidence pack demo")))["id"]
    await api.ok(OWNER, f"/api/use-cases/{use_case}/assessment", ASSESSMENT)
    await api.decide(AIMS, use_case, "v1-final-aims_owner", comment="Controls in place")
    await api.ok(OWNER, f"/api/use-cases/{use_case}/sign-off", SIGNOFF)
    await api.ok(RISK, f"/api/use-cases/{use_case}/incidents", {"severity": "minor", "description": "Misread total"})

    page = await api.get(OWNER, f"/api/use-cases/{use_case}/evidence")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for expected in ("Evidence pack demo", "Version 1", "MINIMAL", "Assessment of version 1", "v1-final-aims_owner",
                     "Controls in place", "Signed off by owner@example.com", "Misread total", "verified",
                     "submitted the intake", "A.6.2.4",
                     "approved the AIMS owner final gate (version 1): “Controls in place”"):  # fmt: skip
        assert expected in page.text, expected
    pdf = await api.get(OWNER, f"/api/use-cases/{use_case}/evidence.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    first = rasterised(pdf.content, tmp_path)
    assert ink(first) > 0.01
    (repo_root() / "docs" / "screenshots" / "evidence-pack.png").write_bytes(first.read_bytes())

    trail = (await api.get(AIMS, "/api/audit/system")).json()["events"]
    generated = [e for e in trail if e["type"] == "evidence_pack_generated" and e["data"]["use_case_id"] == use_case]
    assert [e["data"]["format"] for e in generated] == ["html", "pdf"]
    assert generated[-1]["data"]["sha256"] == pdf.headers["x-content-sha256"] == __import__("hashlib").sha256(
        pdf.content
    ).hexdigest()
    outsider = f"outsider-{uuid.uuid4().hex[:6]}@example.com"
    with transaction(database_url) as session:
        _, api.tokens[outsider] = users.add_user(session, email=outsider, name="Outsider", roles=[],
                                                 slack_user_id=None, now=dt.datetime.now(dt.UTC), by="tests")  # fmt: skip
    assert (await api.get(outsider, f"/api/use-cases/{use_case}/evidence.pdf")).status_code == 403
