"""Seeing where the time goes: one Slack click is one trace across the API, Temporal, the
workflow, its activities and the Slack calls; /metrics has request latency by route and the
Temporal runtime's metrics; logs are JSON lines that name the use case."""

from __future__ import annotations

import gc
import io
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.contrib.opentelemetry import create_tracer_provider
from prometheus_client import REGISTRY, CollectorRegistry
from temporalio import workflow
from temporalio.client import Client
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from aims.cli import child_worker_environment
from aims.connection import connect
from aims.observability import (
    JsonFormatter,
    TemporalMetrics,
    TextFormatter,
    serve_metrics,
    setup_logging,
    tracer,
    use_case_id,
)
from aims.settings import Settings, SettingsError
from api.app import create_app
from api.telemetry import RequestTelemetry
from notifications.slack.channel import SlackChannel
from tests import people
from tests.conftest import worker_for
from tests.fake_slack import FakeSlack
from tests.intakes import invoice_ocr
from tests.net import free_port
from tests.test_api import REQ, Api, settings_for
from tests.test_slack import NOW, SLACK_IDS, FixedClock, Slack, eventually, new_case, settled, slack_deliveries, slack_settings

_exporter = InMemorySpanExporter()
METRICS_TOKEN = "metrics-" + "0123456789abcdef" * 3
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """This process's spans, in memory (the global provider can be set once; later tests keep it,
    with nothing recorded once this module is done)."""
    provider = create_tracer_provider()  # replay-safe, as aims makes it
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    trace.set_tracer_provider(provider)
    yield _exporter
    # Finalise the module's abandoned generators (spans of cancelled requests) now, while their
    # provider lives: collected later, inside another module's code, one broke CPython 3.11's
    # `ast.parse` ("AST constructor recursion depth mismatch").
    gc.collect()
    provider.shutdown()


@pytest.fixture(scope="module")
async def traced(
    spans: InMemorySpanExporter, dev_env: WorkflowEnvironment, database_url: str
) -> AsyncIterator[Slack]:
    """The API and a worker as `aims` wires them with AIMS_TRACING=on, against a fake Slack."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("AIMS_TRACING", "on")
    fake = FakeSlack().start()
    fake.directory.update(SLACK_IDS)
    settings = slack_settings(fake, database_url, f"traced-{uuid.uuid4()}", metrics_token=METRICS_TOKEN,
                              temporal_address=dev_env.client.service_client.config.target_host)
    client = await connect(settings)
    app = create_app(settings, client=client)
    app.state.slack.clock = FixedClock(NOW)
    try:
        async with worker_for(client, settings.task_queue, database_url, [SlackChannel(settings)]):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aims.test") as http:
                yield Slack(Api(http, people.seed(database_url)), http, fake, database_url, app.state.slack)
    finally:
        fake.stop()
        monkeypatch.undo()


async def test_one_slack_click_is_one_trace_from_the_request_to_the_slack_calls(traced: Slack):
    uc = await new_case(traced, invoice_ocr())
    prompt = await traced.prompt("UAIMS", uc, "v1-final-aims_owner")
    # The earlier transitions' messages are out first: their spans belong to their own traces.
    await eventually(lambda: settled(slack_deliveries(traced, uc)))
    posts_before = len(traced.fake.called("chat.postMessage"))
    _exporter.clear()

    response = await traced.click("UAIMS", prompt, "aims_approve")
    assert response.status_code == 200
    # The worker tells the requester and owner the use case is approved (its Slack posts).
    await eventually(lambda: len(traced.fake.called("chat.postMessage")) > posts_before)
    await eventually(lambda: any(s.name == "RunActivity:deliver_notices" for s in _exporter.get_finished_spans()))

    finished = _exporter.get_finished_spans()
    click = next(s for s in finished if s.name == "POST /slack/interactions")
    # One server span per request: ours (FastAPI's own instrumentation would add a second).
    http = [s.name for s in finished if s.kind == SpanKind.SERVER and s.name.startswith("POST ")]
    assert http == ["POST /slack/interactions"], http
    in_trace = {s.name for s in finished if s.context.trace_id == click.context.trace_id}
    for expected in (
        "slack chat_update",  # the API shows "recording…" and then the outcome
        "StartWorkflowUpdate:act",  # the API sends the decision
        "HandleUpdate:act",  # the workflow applies it
        "RunActivity:record_transition",  # and writes it to the register
        "RunActivity:deliver_notices",  # the notices go out
        "slack chat_postMessage",  # to Slack, from the worker
    ):
        assert expected in in_trace, (expected, sorted(in_trace))
    # Every message of the click is in its trace (a Home refreshed a moment later may belong to
    # an earlier change: it is published once for a burst, in the trace of the first).
    assert len({s.context.trace_id for s in finished if s.name.startswith("slack chat_")}) == 1


async def test_metrics_show_request_latency_by_route_and_the_temporal_runtime(traced: Slack):
    await new_case(traced, invoice_ocr())  # the worker has run workflow tasks
    await traced.api.get(REQ, "/api/use-cases")
    body = (await traced.http.get("/metrics", headers=SCRAPER)).text
    assert 'aims_http_request_seconds_bucket{le="0.005",method="GET",route="/api/use-cases",status="200"}' in body
    assert "temporal_request" in body  # the client's calls to Temporal, from the runtime's buffer
    assert "temporal_workflow_task_execution_latency" in body  # and the worker's, in this process


@workflow.defn(sandboxed=False)
class CountedWorkflow:
    @workflow.run
    async def run(self) -> None:
        return None


async def test_the_runtime_s_metrics_keep_one_series_per_label_set_however_many_runs(dev_env: WorkflowEnvironment):
    """Every workflow run comes with attribute objects of its own (the same values): a worker
    that ran for months must not keep one entry per run."""
    buffer = MetricBuffer(10_000)
    metrics = TemporalMetrics(buffer, registry=CollectorRegistry())
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    client = await Client.connect(dev_env.client.service_client.config.target_host, runtime=runtime)
    queue = f"counted-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[CountedWorkflow]):
        sizes = []
        for _ in range(3):
            for _ in range(10):
                await client.execute_workflow(CountedWorkflow.run, id=f"counted-{uuid.uuid4()}", task_queue=queue)
            metrics.drain()
            sizes.append(len(metrics._targets))
    assert sizes[0] > 0 and sizes[1] == sizes[2], sizes  # it grew with every run before


async def test_metrics_are_for_the_holder_of_the_metrics_token_only(traced: Slack, database_url: str):
    for refused in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {METRICS_TOKEN}"},
                    {"Authorization": f"Bearer {traced.api.tokens[REQ]}"}):  # fmt: skip
        answer = await traced.http.get("/metrics", headers=refused)
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert "aims_http" not in answer.text and "AIMS_METRICS_TOKEN" in answer.text

    # Without a token configured, metrics are off.
    app = create_app(settings_for(database_url, "unused"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aims.test") as http:
        off = await http.get("/metrics", headers=SCRAPER)
    assert off.status_code == 404 and "AIMS_METRICS_TOKEN" in off.text


def test_a_workers_metrics_are_served_to_the_token_holder_on_a_port_of_its_own(monkeypatch):
    port = free_port()
    server = serve_metrics(port, "127.0.0.1", METRICS_TOKEN)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        scraped = httpx.get(url, headers=SCRAPER)
        assert scraped.status_code == 200 and "aims_http_request_seconds" in scraped.text
    finally:
        server.shutdown()
        server.server_close()

    monkeypatch.setenv("AIMS_METRICS_PORT", "9400")
    monkeypatch.delenv("AIMS_METRICS_TOKEN", raising=False)
    with pytest.raises(SettingsError, match="AIMS_METRICS_PORT needs AIMS_METRICS_TOKEN"):
        Settings.from_env()
    for weak in ("changeme", "short"):
        monkeypatch.setenv("AIMS_METRICS_TOKEN", weak)
        with pytest.raises(SettingsError, match="AIMS_METRICS_TOKEN must be at least 32"):
            Settings.from_env()
    monkeypatch.setenv("AIMS_METRICS_TOKEN", METRICS_TOKEN)
    settings = Settings.from_env()
    assert METRICS_TOKEN not in repr(settings)
    # `aims worker --processes 3`: the children serve on the next ports.
    assert [child_worker_environment(settings, n)["AIMS_METRICS_PORT"] for n in (1, 2)] == ["9401", "9402"]


def test_text_log_lines_name_the_use_case_too():
    formatter = TextFormatter()
    plain = logging.LogRecord("aims.test", logging.INFO, __file__, 1, "started", None, None)
    assert formatter.format(plain).endswith(" INFO aims.test: started")
    about = logging.LogRecord("aims.test", logging.WARNING, __file__, 1, "refused %s", ("v1-review-risk",), None)
    about.temporal_activity = {"workflow_id": "ai-use-case:uc-7"}
    assert formatter.format(about).endswith(" WARNING aims.test: refused v1-review-risk (use case uc-7)")


def test_log_times_are_utc_whatever_the_machines_time_zone(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        record = logging.LogRecord("aims.test", logging.INFO, __file__, 1, "hello", None, None)
        record.created, record.msecs = 86400.25, 250.0  # 1970-01-02 00:00:00.250 UTC
        assert json.loads(JsonFormatter().format(record))["time"] == "1970-01-02T00:00:00.250Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_log_lines_are_json_with_the_use_case_and_the_trace(spans: InMemorySpanExporter):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("aims.test.observability")
    log.addHandler(handler)
    log.propagate = False
    try:
        token = use_case_id.set("uc-from-a-request")
        with tracer().start_as_current_span("work"):
            log.warning("decided %s", "v1-review-risk")
        use_case_id.reset(token)
        activity_context: dict[str, Any] = {"temporal_activity": {"workflow_id": "ai-use-case:uc-from-an-activity"}}
        try:
            raise ValueError("boom")
        except ValueError:
            log.error("failed", extra=activity_context, exc_info=True)
    finally:
        log.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "decided v1-review-risk" and first["level"] == "warning"
    assert first["use_case_id"] == "uc-from-a-request" and len(first["trace_id"]) == 32
    assert second["use_case_id"] == "uc-from-an-activity" and "ValueError: boom" in second["exception"]


def test_the_log_keeps_events_not_a_pdf_renderers_narration(monkeypatch: pytest.MonkeyPatch):
    root, narration = logging.getLogger(), logging.getLogger("weasyprint.progress")
    handlers, levels = list(root.handlers), (root.level, narration.level)
    monkeypatch.setenv("AIMS_LOG_LEVEL", "info")
    try:
        setup_logging()
        assert root.isEnabledFor(logging.INFO)
        assert not narration.isEnabledFor(logging.INFO) and narration.isEnabledFor(logging.WARNING)
    finally:  # setLevel, not the attribute: it also clears the loggers' cached answers
        root.handlers[:] = handlers
        root.setLevel(levels[0])
        narration.setLevel(levels[1])


async def test_a_request_about_a_use_case_names_it_in_every_log_line_it_causes():
    seen: list[str | None] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(use_case_id.get())  # what a log line written here would carry
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    case = str(uuid.uuid4())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=RequestTelemetry(app)), base_url="http://t") as http:
        await http.get(f"/api/use-cases/{case}/audit")
        await http.get(f"/use-cases/{case}")
        await http.get("/api/use-cases")
    assert seen == [case, case, None]
    assert use_case_id.get() is None


async def test_request_metrics_keep_few_series_whatever_a_client_sends():
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=RequestTelemetry(app)), base_url="http://t") as http:
        for made_up in ("BREW", "X-1", "PROPFIND"):
            await http.request(made_up, f"/nowhere/{uuid.uuid4()}")
    methods = {sample.labels["method"] for metric in REGISTRY.collect() if metric.name == "aims_http_request_seconds"
               for sample in metric.samples if "method" in sample.labels}  # fmt: skip
    assert "OTHER" in methods and not methods & {"BREW", "X-1", "PROPFIND"}
