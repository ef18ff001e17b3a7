"""Seeing where the time goes: Prometheus metrics, OpenTelemetry traces, JSON logs.

- Metrics: the Temporal runtime's own metrics (client and worker: task latencies, polls,
  activity and workflow counts) are buffered and re-exposed with prometheus_client, beside the
  API's request latency by route, so each process has one `/metrics`.
- Traces: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (then OTLP over HTTP); spans cross the
  API, the Temporal client, the workflow, its activities and the Slack calls, so one click is
  one trace.
- Logs: one JSON object a line, with the use case id when there is one (AIMS_LOG_FORMAT=text
  for humans, AIMS_LOG_LEVEL for the level).
"""

from __future__ import annotations

import contextvars
import functools
import hmac
import json
import logging
import os
import socket
import threading
import time
from http import HTTPStatus
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
    TelemetryConfig,
)

SERVICE = "aims"
# The use case a log line is about, when the code handling it knows (API requests, activities).
use_case_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("use_case_id", default=None)

# ------------------------------------------------------------ metrics

REQUEST_SECONDS = Histogram(
    "aims_http_request_seconds",
    "API and page request latency by route",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class TemporalMetrics:
    """Drains the Temporal runtime's metric buffer into prometheus_client metrics."""

    def __init__(self, buffer: MetricBuffer, registry: CollectorRegistry = REGISTRY):
        self.buffer = buffer
        self.registry = registry
        self._metrics: dict[str, tuple[Any, list[str]]] = {}
        # The prometheus child of each metric and attribute values, looked up once. Keyed by the
        # values, not the objects: the runtime makes a new attribute set for every workflow run
        # (same values), so keying by object grew by thousands of entries an hour, for ever.
        self._targets: dict[tuple[str, frozenset[tuple[str, Any]]], Any] = {}
        self._lock = threading.Lock()

    def drain(self) -> None:
        with self._lock:
            for update in self.buffer.retrieve_updates():
                key = (update.metric.name, frozenset(update.attributes.items()))
                target = self._targets.get(key)
                if target is None:
                    target = self._targets[key] = self._target(update)
                kind = update.metric.kind
                if kind == BUFFERED_METRIC_KIND_COUNTER:
                    target.inc(update.value)
                elif kind == BUFFERED_METRIC_KIND_GAUGE:
                    target.set(update.value)
                else:
                    target.observe(update.value)

    def _target(self, update: Any) -> Any:
        metric, labels = self._metric(update.metric, update.attributes)
        values = {key: str(update.attributes.get(key, "")) for key in labels}
        return metric.labels(**values) if labels else metric

    def _metric(self, metric: Any, attributes: Any) -> tuple[Any, list[str]]:
        found = self._metrics.get(metric.name)
        if found is None:
            labels = sorted(key for key in attributes if key.isidentifier())
            name = metric.name if metric.name.startswith("temporal_") else f"temporal_{metric.name}"
            description = metric.description or metric.name
            kind = {BUFFERED_METRIC_KIND_COUNTER: Counter, BUFFERED_METRIC_KIND_GAUGE: Gauge}.get(metric.kind, Histogram)
            found = (kind(name, description, labels, registry=self.registry), labels)
            self._metrics[metric.name] = found
        return found


_runtime: dict[str, Any] = {}


def temporal_runtime() -> Runtime:
    """This process's Temporal runtime: its metrics are buffered for `/metrics`."""
    if "runtime" not in _runtime:
        buffer = MetricBuffer(100_000, MetricBufferDurationFormat.SECONDS)
        _runtime["runtime"] = Runtime(telemetry=TelemetryConfig(metrics=buffer, global_tags={"service": SERVICE}))
        _runtime["metrics"] = TemporalMetrics(buffer)
        keep_draining()  # the buffer is bounded: drain it whether or not anyone scrapes
    return _runtime["runtime"]


def drain_temporal_metrics() -> None:
    if "metrics" in _runtime:
        _runtime["metrics"].drain()


def keep_draining(every_seconds: float = 5.0) -> None:
    """A worker process drains the buffer in the background (it has no request to trigger it)."""

    def loop() -> None:
        while True:
            time.sleep(every_seconds)
            drain_temporal_metrics()

    threading.Thread(target=loop, name="temporal-metrics", daemon=True).start()


def metrics_authorized(authorization: str | None, token: str) -> bool:
    """`Authorization: Bearer <AIMS_METRICS_TOKEN>`, compared in constant time."""
    scheme, _, presented = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def metrics_answer(authorization: str | None, token: str | None) -> tuple[int, str, bytes]:
    """/metrics as (status, content type, body), for the API and each worker alike: this process's
    measurements for the token's holder, 401 for anyone else, 404 when no token is configured."""
    if token is None:
        return 404, "text/plain", b"metrics are off: set AIMS_METRICS_TOKEN and scrape with it as a bearer token\n"
    if not metrics_authorized(authorization, token):
        return 401, "text/plain", b"send Authorization: Bearer <AIMS_METRICS_TOKEN>\n"
    drain_temporal_metrics()
    return 200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)


class _MetricsServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _MetricsServer6(_MetricsServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Scrapes are not news."""


def serve_metrics(port: int, address: str, token: str) -> WSGIServer:
    """A worker process's metrics (it has no web server of its own), for the token's holder only."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, content_type, body = metrics_answer(environ.get("HTTP_AUTHORIZATION"), token)
        headers = [("Content-Type", content_type)] + ([("WWW-Authenticate", "Bearer")] if status == 401 else [])
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]

    server_class = _MetricsServer6 if ":" in address else _MetricsServer
    server = make_server(address, port, app, server_class=server_class, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


# ------------------------------------------------------------ traces


def tracing_enabled() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")) or os.environ.get("AIMS_TRACING") == "on"


@functools.cache
def tracer_provider() -> TracerProvider:
    """Installed once per process; spans are exported over OTLP when an endpoint is configured.
    Replay-safe (Temporal's id generator), so spans made inside workflows are not duplicated."""
    from temporalio.contrib.opentelemetry import create_tracer_provider

    provider = create_tracer_provider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", SERVICE)})
    )
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def tracer() -> trace.Tracer:
    return trace.get_tracer(SERVICE)


def tracing_plugins() -> list[Any]:
    """Temporal's OpenTelemetry plugin for the client and its workers, when tracing is on: an
    Update's handler and the activities it starts join the caller's trace (the older
    interceptor only links them to the workflow's)."""
    if not tracing_enabled():
        return []
    from temporalio.contrib.opentelemetry import OpenTelemetryPlugin

    tracer_provider()
    return [OpenTelemetryPlugin(add_temporal_spans=True)]


# ------------------------------------------------------------ logs


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, use case, trace, exception."""

    converter = time.gmtime  # the time says Z: UTC whatever the machine's zone

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        case = use_case_id.get() or _use_case_of(record)
        if case:
            entry["use_case_id"] = case
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = f"{span.trace_id:032x}"
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """For a person at a terminal (`make run`): one line, with the use case when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s%(about)s")

    def format(self, record: logging.LogRecord) -> str:
        case = use_case_id.get() or _use_case_of(record)
        record.about = f" (use case {case})" if case else ""
        return super().format(record)


def _use_case_of(record: logging.LogRecord) -> str | None:
    """Activities and workflows log with Temporal's context: the workflow id names the use case."""
    for key in ("temporal_activity", "temporal_workflow"):
        details = getattr(record, key, None)
        if isinstance(details, dict) and str(details.get("workflow_id", "")).startswith("ai-use-case:"):
            return str(details["workflow_id"]).removeprefix("ai-use-case:")
    return None


def setup_logging(default_format: str = "json") -> None:
    handler = logging.StreamHandler()
    if os.environ.get("AIMS_LOG_FORMAT", default_format) == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("AIMS_LOG_LEVEL", "info").upper())
    # WeasyPrint narrates each step of every PDF it makes at info: noise, not events.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
