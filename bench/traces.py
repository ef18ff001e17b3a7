"""Traces from aims' own processes, for a bench: a small OTLP/HTTP receiver they export to
(`environment()`), and waterfalls of what one request did across the API, Temporal and the
worker. Spans come from aims' tracing (AIMS_TRACING / OTEL_EXPORTER_OTLP_ENDPOINT)."""

from __future__ import annotations

import asyncio
import statistics
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start: float  # seconds, the same clock for every process on this machine
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


class SpanCollector:
    """Receives what aims' processes export (OTLP over HTTP, protobuf) and keeps the spans."""

    def __init__(self, port: int):
        self.port = port
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        collector = self

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server protocol
                request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
                collector.add(
                    Span(span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), span.name,
                         span.start_time_unix_nano / 1e9, span.end_time_unix_nano / 1e9)  # fmt: skip
                    for resource in request.resource_spans
                    for scope in resource.scope_spans
                    for span in scope.spans
                )
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = _Server(("127.0.0.1", port), Receiver)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def environment(self) -> dict[str, str]:
        """For aims' processes: export here, in small batches often (the bench waits for them)."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.port}",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BSP_MAX_QUEUE_SIZE": "100000",
        }

    def add(self, spans: Iterable[Span]) -> None:
        with self._lock:
            self.spans.extend(spans)

    def trace(self, root: Span) -> list[Span]:
        with self._lock:
            return sorted((span for span in self.spans if span.trace_id == root.trace_id), key=lambda s: s.start)

    def roots(self, name: str) -> list[Span]:
        with self._lock:
            return [span for span in self.spans if span.name == name and not span.parent_id]

    def stop(self) -> None:
        self._server.shutdown()


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # the standard library's 5 drops connections when processes export at once


def waterfall(spans: list[Span], root: Span) -> str:
    """One line a span: when it started after the root, how long it took, what it was (indented by depth)."""
    depth = {root.span_id: 0}
    lines = []
    for span in spans:
        level = depth.setdefault(span.span_id, depth.get(span.parent_id, 0) + 1)
        lines.append(f"  {1000 * (span.start - root.start):8.1f} ms  {1000 * span.seconds:8.1f} ms  {'  ' * level}{span.name}")
    return "\n".join(lines)


def phases(traces: list[list[Span]], marks: dict[str, Callable[[list[Span]], float | None]]) -> str:
    """The median of each named measure over every trace that has it."""
    lines = []
    for label, measure in marks.items():
        values = [value for trace in traces if (value := measure(trace)) is not None]
        if values:
            lines.append(f"  {label:58s} median {1000 * statistics.median(values):7.1f} ms  (of {len(values)})")
    return "\n".join(lines)


async def settled(collector: SpanCollector) -> None:
    """Until every process has exported its spans (every 200 ms: quiet for a second means done)."""
    counted = -1
    while counted != len(collector.spans):
        counted = len(collector.spans)
        await asyncio.sleep(1.0)


def first(trace: list[Span], name: str) -> Span | None:
    return next((span for span in trace if span.name == name), None)


def between(start: tuple[str, str], end: tuple[str, str]) -> Callable[[list[Span]], float | None]:
    """From a span's start or end (`("start"|"end", name)`; the last of its name for an end) to another's."""

    def measure(trace: list[Span]) -> float | None:
        def at(edge: str, name: str) -> float | None:
            named = [span for span in trace if span.name == name]
            if not named:
                return None
            return named[0].start if edge == "start" else max(span.end for span in named)

        begin, finish = at(*start), at(*end)
        return finish - begin if begin is not None and finish is not None else None

    return measure


async def report(
    collector: SpanCollector, root_name: str, marks: dict[str, Callable[[list[Span]], float | None]], by: str,
    what: str, *, since: float = 0.0,
) -> None:
    """Once every process has exported its spans: the median of each mark over the traces rooted
    in `root_name` (started after `since`, a Unix time), and the median and slowest by `by`."""
    await settled(collector)
    measure = marks[by]
    traces = [collector.trace(root) for root in collector.roots(root_name) if root.start >= since]
    traces = sorted((t for t in traces if measure(t) is not None), key=lambda t: measure(t) or 0.0)
    if not traces:
        print(f"no {what} traces arrived")
        return
    print(f"where the time of each {what} goes (tracing on, so a little slower), {len(traces)} traces:")
    print(phases(traces, marks))
    for label, trace in (("median", traces[len(traces) // 2]), ("slowest", traces[-1])):
        root = first(trace, root_name)
        assert root is not None
        print(f"the trace of the {label} {what}:")
        print(waterfall(trace, root))
