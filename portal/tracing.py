"""OpenTelemetry traces of HTTP requests (``GONGZHI_OTEL_ENABLED``, off by default).

Off, this module is never imported (``create_app`` imports it only when tracing is on), so the
SDK costs nothing. On, ``RequestContext`` (portal/middleware.py) asks ``Tracing`` for one server
span per request and:

- names it ``{method} {route template}`` (``GET /v/{token}``), never the raw path: one name per
  sticker token would be unbounded, and a path or query string can carry personal data (a
  phone number, a 查询码). Its attributes are only what the server itself decides: the method,
  the route template, the status, the scheme and the HTTP version — no path, query, headers,
  client address or exception message (those can hold personal data; an error is named by its
  exception class, ``error.type``);
- continues the caller's trace from a W3C ``traceparent`` (and ``tracestate``) header only when
  the portal sits behind proxies it trusts (``GONGZHI_TRUSTED_PROXIES`` set), and only when the
  header is well-formed (OpenTelemetry's own W3C parser: version, 32 and 16 lowercase hex digits,
  not all zero, flags); otherwise every request starts a new trace. A header from the open
  internet would let anyone choose the trace id written in our logs, join their requests to
  another trace, or turn sampling off for their own requests. Behind a proxy the header is the
  proxy's to set, pass on or remove (docs/deploy.md, *Logs and traces*). The proxy is not
  recognised by its address: under ``gongzhi serve`` uvicorn has already replaced the proxy's
  address by the client's (``X-Forwarded-For``) before the app sees the request;
- puts the trace and span ids (hex) in the structured log context, so every log line of the
  request carries ``trace_id`` and ``span_id`` beside ``request_id``, and the trace id in the
  ``X-Trace-ID`` response header beside ``X-Request-ID``.

Spans go over OTLP/HTTP (protobuf) to ``GONGZHI_OTEL_EXPORTER_OTLP_ENDPOINT``, else to the
endpoint of OpenTelemetry's standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; ``OTEL_EXPORTER_OTLP_HEADERS`` and the rest are read by
the exporter), else nowhere: ids are still made, logged and returned. The provider is the app's
own, not OpenTelemetry's global one, which would switch on FastAPI's built-in telemetry (it
records the raw path and query string); ``create_app`` switches that off in any case.
"""

from __future__ import annotations

import os
import socket
from contextvars import Token
from importlib import metadata
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, StatusCode, format_span_id, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import Scope

from portal.metrics import UNMATCHED, route_of
from portal.settings import Settings, trusted_networks

# The methods a span is named by; any other is "HTTP" with http.request.method "_OTHER"
# (OpenTelemetry's HTTP conventions), so a crafted method makes no new span name.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_TRACES_PATH = "/v1/traces"


def _span_method(scope: Scope) -> str:
    method: str = scope["method"]
    return method if method in _METHODS else "HTTP"


def otlp_traces_endpoint(base: str) -> str:
    """The traces URL of a collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is read (the
    signal path added); a URL that already ends in it is kept."""
    path = urlsplit(base).path.rstrip("/")
    if path.endswith(_TRACES_PATH):
        return base
    return base.rstrip("/") + _TRACES_PATH


def _exporter(settings: Settings) -> OTLPSpanExporter | None:
    if settings.otel_exporter_otlp_endpoint:
        return OTLPSpanExporter(endpoint=otlp_traces_endpoint(settings.otel_exporter_otlp_endpoint))
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    ):
        return OTLPSpanExporter()  # the standard variables, read by the exporter
    return None


def _resource(settings: Settings) -> Resource:
    # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES; the values given here win.
    return Resource.create(
        {
            "service.name": settings.otel_service_name,
            "service.version": metadata.version("gongzhi"),
            "deployment.environment.name": settings.env.value,
            "host.name": socket.gethostname(),
            "process.pid": os.getpid(),
        }
    )


class Tracing:
    """The app's tracer provider and the per-request span."""

    def __init__(self, settings: Settings) -> None:
        self.provider = TracerProvider(
            resource=_resource(settings),
            sampler=ParentBased(TraceIdRatioBased(settings.otel_sample_ratio)),
            shutdown_on_exit=False,  # the app's lifespan shuts it down (flushing what is left)
        )
        exporter = _exporter(settings)
        if exporter is not None:
            self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("gongzhi")
        self.trust_traceparent = bool(trusted_networks(settings.trusted_proxies))
        self.propagator = TraceContextTextMapPropagator()

    def parent(self, scope: Scope) -> Context:
        """The caller's trace to continue, or an empty context (a new trace)."""
        if not self.trust_traceparent:
            return Context()
        carrier: dict[str, list[str]] = {}
        for name, value in scope["headers"]:
            if name in (b"traceparent", b"tracestate"):
                carrier.setdefault(name.decode(), []).append(value.decode("latin-1"))
        if len(carrier.get("traceparent", ())) != 1:  # none, or ambiguous
            return Context()
        return self.propagator.extract(carrier)  # empty unless well-formed

    def start(self, scope: Scope) -> ServerSpan:
        """A server span for the request, made current until ``ServerSpan.finish``."""
        known = scope["method"] in _METHODS
        parent = self.parent(scope)
        attributes: dict[str, str] = {
            "http.request.method": scope["method"] if known else "_OTHER",
            "url.scheme": scope.get("scheme", "http"),
        }
        if scope.get("http_version"):
            attributes["network.protocol.version"] = scope["http_version"]
        span = self.tracer.start_span(
            _span_method(scope),
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,  # an exception's message can hold personal data
            set_status_on_exception=False,
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return ServerSpan(span, token)

    def shutdown(self) -> None:
        """Export what is left and stop the exporter's thread."""
        self.provider.shutdown()


class ServerSpan:
    """One request's span, with its ids as hex (trace id 32 digits, span id 16)."""

    __slots__ = ("span", "span_id", "token", "trace_id")

    def __init__(self, span: Span, token: Token[Context]) -> None:
        self.span = span
        self.token = token
        context = span.get_span_context()
        self.trace_id = format_trace_id(context.trace_id)
        self.span_id = format_span_id(context.span_id)

    def finish(self, scope: Scope, status: int, error: BaseException | None) -> None:
        """Name the span by the route that answered, record the outcome, end it."""
        span = self.span
        route = route_of(scope)  # known once the app has routed the request
        if route != UNMATCHED:
            span.update_name(f"{_span_method(scope)} {route}")
            span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if error is not None or status >= 500:
            span.set_attribute(
                "error.type", type(error).__qualname__ if error is not None else str(status)
            )
            span.set_status(StatusCode.ERROR)
        span.end()
        otel_context.detach(self.token)
