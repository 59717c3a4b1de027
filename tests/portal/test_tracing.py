"""OpenTelemetry traces (portal/tracing.py, GONGZHI_OTEL_ENABLED): one server span per request,
named by the route template, with no personal data in its attributes; the caller's
``traceparent`` continued only when well-formed and from behind a trusted proxy; the trace id in
every JSON log line of the request and in ``X-Trace-ID``; spans sent over OTLP/HTTP; nothing of
it (not even the SDK's import) with tracing off, the default."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import structlog
from fastapi import FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, format_span_id, format_trace_id
from pydantic import ValidationError

from portal import tracing
from portal.app import create_app
from portal.settings import Settings
from tests.support import make_settings

PHONE = "13800138000"
NAME = "张三"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def probe_app(settings: Settings) -> FastAPI:
    """The portal with two extra routes: one that logs with personal data in its path and query,
    one that fails with personal data in its exception."""
    app = create_app(settings)
    log = structlog.get_logger("tests.tracing")

    async def probe(item: str) -> dict[str, str]:
        log.info("probe_inside")
        return {"ok": "yes"}

    async def boom() -> None:
        raise RuntimeError(f"could not reach {PHONE}")

    app.add_api_route("/trace-probe/{item}", probe, methods=["GET"])
    app.add_api_route("/trace-boom", boom, methods=["GET"])
    return app


def traced_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"otel_enabled": True}
    values.update(overrides)
    return make_settings(f"sqlite+aiosqlite:///{tmp_path}/unused.db", tmp_path, **values)


@pytest.fixture(scope="module")
def module_spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def spans(module_spans: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    module_spans.clear()
    yield module_spans
    module_spans.clear()


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # The peer is 127.0.0.1, the address the "behind a proxy" settings trust.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _attach(app: FastAPI, exporter: InMemorySpanExporter) -> None:
    app.state.tracing.provider.add_span_processor(SimpleSpanProcessor(exporter))


@pytest.fixture(scope="module")
async def traced_client(
    tmp_path_factory: pytest.TempPathFactory, module_spans: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    """Tracing on, directly facing clients (no trusted proxy)."""
    app = probe_app(traced_settings(tmp_path_factory.mktemp("traced")))
    _attach(app, module_spans)
    async for client in _client(app):
        yield client


@pytest.fixture(scope="module")
async def proxied_client(
    tmp_path_factory: pytest.TempPathFactory, module_spans: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    """Tracing on, behind a trusted proxy on 127.0.0.1."""
    app = probe_app(
        traced_settings(tmp_path_factory.mktemp("proxied"), trusted_proxies="127.0.0.1")
    )
    _attach(app, module_spans)
    async for client in _client(app):
        yield client


@pytest.fixture
def traced(traced_client: httpx.AsyncClient, spans: InMemorySpanExporter) -> httpx.AsyncClient:
    return traced_client


@pytest.fixture
def proxied(proxied_client: httpx.AsyncClient, spans: InMemorySpanExporter) -> httpx.AsyncClient:
    return proxied_client


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    finished = exporter.get_finished_spans()
    assert len(finished) == 1, [s.name for s in finished]
    return finished[0]


def assert_no_personal_data(span: ReadableSpan) -> None:
    text = repr(dict(span.attributes or {})) + span.name + repr(span.events)
    assert PHONE not in text
    assert NAME not in text
    assert "phone" not in text
    assert "?" not in text


async def test_a_request_is_one_server_span_named_by_its_route_template(
    traced: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await traced.get(f"/trace-probe/{PHONE}", params={"phone": PHONE, "name": NAME})
    assert response.status_code == 200
    span = only_span(spans)
    assert span.name == "GET /trace-probe/{item}"
    assert span.kind is SpanKind.SERVER
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "http.route": "/trace-probe/{item}",
        "http.response.status_code": 200,
        "url.scheme": "http",
        "network.protocol.version": "1.1",
    }
    assert_no_personal_data(span)
    assert span.parent is None
    # The trace id is answered beside the request id.
    assert response.headers["x-trace-id"] == format_trace_id(span.context.trace_id)
    assert response.headers["x-request-id"]
    assert span.resource.attributes["service.name"] == "gongzhi"
    assert span.resource.attributes["deployment.environment.name"] == "test"


async def test_a_failure_is_named_by_its_exception_class_not_its_message(
    traced: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await traced.get("/trace-boom")
    assert response.status_code == 500
    span = only_span(spans)
    assert span.name == "GET /trace-boom"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is None
    assert span.attributes is not None
    assert span.attributes["error.type"] == "RuntimeError"
    assert span.attributes["http.response.status_code"] == 500
    assert not span.events  # no exception event: its message and stack can hold personal data
    assert_no_personal_data(span)


async def test_an_unmatched_path_is_named_by_its_method_alone(
    traced: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await traced.get(f"/no-such-page/{PHONE}", params={"phone": PHONE})
    assert response.status_code == 404
    span = only_span(spans)
    assert span.name == "GET"
    assert span.attributes is not None
    assert "http.route" not in span.attributes
    assert_no_personal_data(span)


async def test_a_crafted_method_makes_no_new_span_name(
    traced: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    await traced.request("BREW", "/trace-probe/x")
    span = only_span(spans)
    assert span.name in ("HTTP", "HTTP /trace-probe/{item}")
    assert span.attributes is not None
    assert span.attributes["http.request.method"] == "_OTHER"


async def test_a_valid_traceparent_from_behind_a_trusted_proxy_is_continued(
    proxied: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await proxied.get(
        "/trace-probe/a", headers={"traceparent": TRACEPARENT, "tracestate": "vendor=abc"}
    )
    span = only_span(spans)
    assert format_trace_id(span.context.trace_id) == TRACE_ID
    assert span.parent is not None
    assert span.parent.is_remote
    assert format_span_id(span.parent.span_id) == PARENT_ID
    assert format_span_id(span.context.span_id) != PARENT_ID
    assert span.context.trace_flags.sampled
    assert span.context.trace_state.get("vendor") == "abc"
    assert response.headers["x-trace-id"] == TRACE_ID


@pytest.mark.parametrize(
    "traceparent",
    [
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",  # uppercase hex
        f"00-{'0' * 32}-{PARENT_ID}-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01",  # short trace id
        f"ff-{TRACE_ID}-{PARENT_ID}-01",  # forbidden version
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE_ID}-{PARENT_ID}",  # no flags
        "not a traceparent",
        f"00-{TRACE_ID}-{PARENT_ID}-01," + f"00-{TRACE_ID}-{PARENT_ID}-01",
    ],
)
async def test_a_malformed_traceparent_starts_a_new_trace(
    proxied: httpx.AsyncClient, spans: InMemorySpanExporter, traceparent: str
) -> None:
    response = await proxied.get("/trace-probe/a", headers={"traceparent": traceparent})
    assert response.status_code == 200
    span = only_span(spans)
    assert span.parent is None
    assert format_trace_id(span.context.trace_id) != TRACE_ID
    assert response.headers["x-trace-id"] == format_trace_id(span.context.trace_id)


async def test_two_traceparent_headers_start_a_new_trace(
    proxied: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    other = f"00-{'1' * 32}-{PARENT_ID}-01"
    await proxied.get(
        "/trace-probe/a", headers=[("traceparent", TRACEPARENT), ("traceparent", other)]
    )
    span = only_span(spans)
    assert span.parent is None
    assert format_trace_id(span.context.trace_id) not in (TRACE_ID, "1" * 32)


async def test_a_client_facing_portal_ignores_a_valid_traceparent(
    traced: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    """Without GONGZHI_TRUSTED_PROXIES the header comes from anyone on the internet: it may not
    choose our trace ids nor switch sampling off for its own requests."""
    unsampled = f"00-{TRACE_ID}-{PARENT_ID}-00"
    response = await traced.get("/trace-probe/a", headers={"traceparent": unsampled})
    span = only_span(spans)  # recorded: the caller's "not sampled" was not obeyed either
    assert span.parent is None
    assert format_trace_id(span.context.trace_id) != TRACE_ID
    assert response.headers["x-trace-id"] == format_trace_id(span.context.trace_id)


async def test_an_unsampled_request_still_has_ids_but_exports_nothing(tmp_path: Path) -> None:
    spans = InMemorySpanExporter()
    app = probe_app(traced_settings(tmp_path, otel_sample_ratio=0))
    _attach(app, spans)
    async for client in _client(app):
        response = await client.get("/trace-probe/a")
    assert len(response.headers["x-trace-id"]) == 32
    assert int(response.headers["x-trace-id"], 16) != 0
    assert spans.get_finished_spans() == ()


async def test_tracing_is_off_by_default(client: httpx.AsyncClient, app: FastAPI) -> None:
    assert Settings.model_fields["otel_enabled"].default is False
    assert app.state.tracing is None
    response = await client.get("/healthz")
    assert "x-trace-id" not in response.headers
    assert response.headers["x-request-id"]


# The log lines themselves, as a log shipper reads them: a fresh process (structlog's loggers
# keep the configuration they first saw) serves one request with tracing on and one with it off.
SCRIPT = """
import asyncio, json, sys
import httpx
from portal.app import create_app
from portal.settings import Settings

def settings(tracing):
    return Settings.build(
        env="test", database_url="sqlite+aiosqlite:///unused.db", storage_dir=sys.argv[1],
        log_json=True, otel_enabled=tracing, trusted_proxies="127.0.0.1",
        run_worker_in_process=False, page_cache_seconds=0,
    )

create_app(settings(False))
sdk_loaded_when_off = "opentelemetry.sdk" in sys.modules

def build(tracing):
    from tests.portal.test_tracing import probe_app  # imports the SDK (the test's exporter)
    return probe_app(settings(tracing))

async def ask(app, request_id, headers):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/trace-probe/a", headers={"x-request-id": request_id, **headers})
    return dict(response.headers)

plain = build(False)
answers = {"untraced": asyncio.run(ask(plain, "untraced", {}))}
traced = build(True)
answers["traced"] = asyncio.run(ask(traced, "traced", {"traceparent": sys.argv[2]}))
answers["sdk_loaded_when_off"] = sdk_loaded_when_off
sys.stderr.write(json.dumps(answers))
"""


def test_every_json_log_line_of_a_traced_request_carries_its_trace_id(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), TRACEPARENT],
        capture_output=True,
        check=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    answers = json.loads(done.stderr.decode().strip().splitlines()[-1])
    assert answers["sdk_loaded_when_off"] is False  # tracing off costs no import
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    traced = [line for line in lines if line.get("request_id") == "traced"]
    untraced = [line for line in lines if line.get("request_id") == "untraced"]
    # The route's own line and the access line, each for both requests.
    assert {line["event"] for line in traced} == {"probe_inside", "request"}
    assert {line["event"] for line in untraced} == {"probe_inside", "request"}
    for line in traced:
        assert line["trace_id"] == TRACE_ID == answers["traced"]["x-trace-id"]
        assert len(line["span_id"]) == 16
        assert int(line["span_id"], 16)
        assert line["span_id"] != PARENT_ID
    assert len({line["span_id"] for line in traced}) == 1
    for line in untraced:
        assert "trace_id" not in line
        assert "span_id" not in line
    assert "x-trace-id" not in answers["untraced"]


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((self.path, self.headers["content-type"], body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """An OTLP/HTTP receiver on loopback that keeps what it is sent."""
    received: list[tuple[str, str, bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


async def test_spans_are_exported_over_otlp_to_the_configured_collector(
    tmp_path: Path, collector: tuple[str, list[tuple[str, str, bytes]]]
) -> None:
    endpoint, received = collector
    app = probe_app(
        traced_settings(tmp_path, otel_exporter_otlp_endpoint=endpoint, otel_service_name="jl-xy")
    )
    async for client in _client(app):
        response = await client.get(f"/trace-probe/{PHONE}", params={"phone": PHONE})
    app.state.tracing.shutdown()  # what the lifespan does at the end: export what is queued
    assert len(received) == 1
    path, content_type, body = received[0]
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "jl-xy"
    (scope_spans,) = resource_spans.scope_spans
    (span,) = scope_spans.spans
    assert span.name == "GET /trace-probe/{item}"
    assert span.trace_id.hex() == response.headers["x-trace-id"]
    assert PHONE.encode() not in body


def test_spans_go_nowhere_without_an_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert tracing._exporter(traced_settings(tmp_path)) is None
    # OpenTelemetry's own variable is enough; the exporter reads it (and its headers) itself.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.internal:4318")
    assert tracing._exporter(traced_settings(tmp_path)) is not None


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otel.example/otlp", "https://otel.example/otlp/v1/traces"),
        ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces"),
    ],
)
def test_the_collector_base_url_gets_the_traces_path(base: str, url: str) -> None:
    assert tracing.otlp_traces_endpoint(base) == url


@pytest.mark.parametrize("endpoint", ["collector:4318", "ftp://collector", "http://a b"])
def test_an_endpoint_that_is_no_http_url_is_refused(tmp_path: Path, endpoint: str) -> None:
    with pytest.raises(ValidationError):
        traced_settings(tmp_path, otel_exporter_otlp_endpoint=endpoint)
