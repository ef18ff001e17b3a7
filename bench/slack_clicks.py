"""50 concurrent signed Slack clicks against the running API.

    .venv/bin/python bench/slack_clicks.py [-n 50]

Sets up N use cases with an open AIMS-owner gate (prompts posted to a fake Slack Web API by a
worker process), then sends N signed "Approve" clicks at once over HTTP. Prints p50/p99 of
the time to Slack's acknowledgement and of the time until the decision is visible in
GET /api/use-cases/{id}.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import httpx
import uvicorn
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aims.persistence.db import migrate  # noqa: E402
from aims.runtime import binary  # noqa: E402
from aims.settings import Settings  # noqa: E402
from api.app import create_app  # noqa: E402
from bench.lifecycle import free_port, percentile  # noqa: E402
from tests import people  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402
from tests.intakes import ASSESSMENT, invoice_ocr  # noqa: E402
from tests.test_slack import SECRET, SLACK_IDS, sign  # noqa: E402


async def main(count: int) -> None:
    database_url = f"sqlite:///{tempfile.mkdtemp()}/slack-bench.db"
    migrate(database_url)
    tokens = people.seed(database_url)
    fake = FakeSlack().start()
    fake.directory.update(SLACK_IDS)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), data_converter=pydantic_data_converter
    )
    task_queue = f"slack-bench-{uuid.uuid4()}"
    slack_env = {
        "SLACK_BOT_TOKEN": fake.token,
        "SLACK_SIGNING_SECRET": SECRET,
        "AIMS_SLACK_API_URL": fake.url,
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "AIMS_DATABASE_URL": database_url,
        "AIMS_TASK_QUEUE": task_queue,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "aims.cli", "worker"], env=os.environ | slack_env, stdout=subprocess.DEVNULL
    )
    settings = dataclasses.replace(
        Settings.from_env(),
        database_url=database_url,
        task_queue=task_queue,
        slack_bot_token=fake.token,
        slack_signing_secrets=(SECRET,),
        slack_api_url=fake.url,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, client=env.client), port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    async with env, httpx.AsyncClient(base_url=base, timeout=60) as http:

        async def post(who: str, path: str, body: object) -> dict:
            response = await http.post(path, json=body, headers={"Authorization": f"Bearer {tokens[who]}"})
            if response.status_code >= 400:
                raise RuntimeError(f"{path}: {response.status_code} {response.text}")
            return response.json()

        ids = []
        for _ in range(count):
            case = await post("req@example.com", "/api/use-cases", invoice_ocr())
            await post("owner@example.com", f"/api/use-cases/{case['id']}/assessment", ASSESSMENT)
            ids.append(case["id"])

        def prompt_for(use_case_id: str) -> dict | None:
            return next(
                (
                    m
                    for m in fake.messages.get("DUAIMS", [])
                    if m["metadata"]["event_payload"]["use_case_id"] == use_case_id and m.get("blocks")
                ),
                None,
            )

        deadline = time.monotonic() + 120
        while not all(prompt_for(i) for i in ids):
            assert time.monotonic() < deadline, "prompts were not posted"
            await asyncio.sleep(0.1)

        async def click(use_case_id: str) -> tuple[float, float]:
            prompt = prompt_for(use_case_id)
            button = next(e for b in prompt["blocks"] if b["type"] == "actions" for e in b["elements"])
            payload = {
                "type": "block_actions",
                "user": {"id": "UAIMS"},
                "trigger_id": "t",
                "container": {"type": "message", "message_ts": prompt["ts"], "channel_id": "DUAIMS"},
                "actions": [{"action_id": "aims_approve", "value": button["value"], "action_ts": str(time.time())}],
            }
            body = urlencode({"payload": json.dumps(payload)}).encode()
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": sign(SECRET, stamp, body),
            }
            started = time.perf_counter()
            response = await http.post("/slack/interactions", content=body, headers=headers)
            acked = time.perf_counter() - started
            assert response.status_code == 200, response.text
            while True:
                state = (
                    await http.get(
                        f"/api/use-cases/{use_case_id}", headers={"Authorization": f"Bearer {tokens['aims@example.com']}"}
                    )
                ).json()
                if state["status"] == "approved":
                    return acked, time.perf_counter() - started
                await asyncio.sleep(0.02)

        results = await asyncio.gather(*(click(i) for i in ids))
        server.should_exit = True
        await serving
    worker.terminate()
    worker.wait(timeout=30)
    fake.stop()
    acks = [a for a, _ in results]
    visible = [v for _, v in results]
    print(f"concurrent signed clicks: {count}")
    print(f"ack (HTTP 200 to Slack):       p50 {percentile(acks, .5) * 1000:7.1f} ms  p99 {percentile(acks, .99) * 1000:7.1f} ms")
    print(f"decision visible in GET:       p50 {percentile(visible, .5) * 1000:7.1f} ms  p99 {percentile(visible, .99) * 1000:7.1f} ms")
    print(f"acks within Slack's 3 s: {sum(a < 3 for a in acks)}/{count}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--count", type=int, default=50)
    asyncio.run(main(parser.parse_args().count))
