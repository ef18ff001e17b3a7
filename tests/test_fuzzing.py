"""Schemathesis fuzzes the served OpenAPI, signed in, against a real worker and Temporal dev
server: whatever it sends, the API answers with a reason, never a server error."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from tests import people
from tests.conftest import worker_for
from tests.net import free_port
from tests.intakes import ASSESSMENT, code_assistant
from tests.test_api import AIMS, OWNER, settings_for

# A few minutes at most in `make test`; FUZZ_MAX_TIME raises it for a longer hunt.
MAX_TIME = int(os.environ.get("FUZZ_MAX_TIME", "120"))


@pytest.fixture
async def served(dev_env: WorkflowEnvironment, database_url: str) -> AsyncIterator[tuple[str, dict[str, str]]]:
    task_queue = "fuzzing"
    tokens = people.seed(database_url)
    app = create_app(settings_for(database_url, task_queue), client=dev_env.client)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    async with worker_for(dev_env.client, task_queue, database_url):
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}", tokens
        server.should_exit = True
        await serving


async def test_schemathesis_finds_no_server_error(served: tuple[str, dict[str, str]], tmp_path: Path):
    url, tokens = served
    # A real use case, requested by the fuzzing user, so actions reach the lifecycle, not a 404.
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {tokens[AIMS]}"}) as http:
        created = await http.post("/api/use-cases", json=code_assistant())
        use_case = created.json()["id"]
        owner = {"Authorization": f"Bearer {tokens[OWNER]}"}
        assert (await http.post(f"/api/use-cases/{use_case}/assessment", json=ASSESSMENT, headers=owner)).is_success
    config = tmp_path / "schemathesis.toml"
    # One worker: CPython 3.11.7's ast.parse keeps its recursion count per interpreter, not per
    # thread, so Hypothesis describing lambdas in two threads at once fails spuriously
    # ("AST constructor recursion depth mismatch", fixed in 3.11.8).
    config.write_text(f'[parameters]\n"path.use_case_id" = "{use_case}"\n"path.gate_id" = "v1-review-risk"\n')
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "run", f"{url}/openapi.json",
        "--checks", "not_a_server_error",
        # /healthz answers 503 on purpose when Temporal is slow to answer (a 10-minute fuzz can
        # load the dev server that much); its answers are tested in tests/test_api.py.
        "--exclude-path", "/healthz",
        "--header", f"Authorization: Bearer {tokens[AIMS]}",
        "--max-examples", "40", "--max-time", str(MAX_TIME), "--workers", "1",
        "--phases", "examples,coverage,fuzzing", "--generation-database", "none",
        "--no-color", "--report", "junit", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    text = output.decode()
    print(text[-3000:])
    assert process.returncode == 0, text[-6000:]
