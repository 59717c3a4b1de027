"""Prometheus metrics (``prometheus-client``) and the ``/metrics`` scrape.

What is measured:
- every HTTP request, by method, **route template** and status (``gongzhi_http_requests_total``)
  and its latency (``gongzhi_http_request_duration_seconds``), recorded by ``RequestContext``
  (portal/middleware.py), which already times each request. The label is the template
  (``/v/{token}``), never the raw path: one series per sticker token would grow without bound.
  A request no route matched (404s, slash redirects) is counted as ``(unmatched)``. Shortcuts
  that bypass routing (the certificates hot path, a page-cache hit) name the template they served
  in ``scope[ROUTE]``;
- password logins that failed, refusals by a rate limit (by the refusal's problem code), the
  sizes and processing durations of photos taken in by complaints, database connections in use;
- at scrape time, the outbox: pending and failed events and the age of the oldest due event;
  and the search index's lag: its changes not yet applied, and the age of the oldest.

Several server processes (``gongzhi serve --workers N``) each count their own requests; ``serve``
then sets ``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory unless the operator gave one, emptied
at start) before the workers start, and prometheus-client keeps every value in a memory-mapped
file there. A scrape, answered by whichever worker the connection reaches, adds up the files of
all of them. One process uses the default registry (with its process and GC metrics).

``/metrics`` answers only with ``Authorization: Bearer <GONGZHI_METRICS_TOKEN>``; without the
setting it does not exist (404). Never public: request counts per route tell an outsider what is
used, and the outbox query costs the database something on each scrape.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable, Iterator
from typing import Any

# Under PROMETHEUS_MULTIPROC_DIR, prometheus-client opens its file there on the first metric made
# (below, at import), so the directory must exist by then, for any `gongzhi` command.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Mount
from starlette.types import Scope

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The scope key a shortcut that bypasses routing sets to the route template it answered for.
ROUTE = "gongzhi.route"
UNMATCHED = "(unmatched)"
# The classic text format generate_latest writes (prometheus-client 0.26 names 1.0.0 "latest"; every
# Prometheus server reads 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "gongzhi_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "gongzhi_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
REPLICA_FALLBACKS = Counter(
    "gongzhi_db_replica_fallbacks",
    "Public reads sent to the primary instead of the read replica, by reason "
    "(unavailable, lagging, not_found).",
    ["reason"],
)
LOGIN_FAILURES = Counter(
    "gongzhi_login_failures", "Password logins refused for a wrong account or password."
)
RATE_LIMIT_REFUSALS = Counter(
    "gongzhi_rate_limit_refusals",
    "Requests refused by a rate limit (429), by the problem code (rate_limited, login_locked…).",
    ["code"],
)
PHOTO_BYTES = Histogram(
    "gongzhi_photo_intake_bytes",
    "Sizes of the photos complaints took in (the uploaded file).",
    buckets=tuple(2**n * 1024 for n in range(6, 16)),  # 64 KiB … 32 MiB
)
PHOTO_SECONDS = Histogram(
    "gongzhi_photo_intake_seconds",
    "Time to check, decode, scale and store one photo complaints took in.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
# "livesum": under several workers, the sum over the processes that are alive.
DB_CONNECTIONS_IN_USE = Gauge(
    "gongzhi_db_pool_connections_in_use",
    "Database connections checked out of this server's pools.",
    multiprocess_mode="livesum",
)

# One pair of children per (method, route, status): ``labels()`` takes a lock and builds a key
# on each call, which is most of the cost on the hot sticker path. Bounded like the labels.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def route_of(scope: Scope) -> str:
    """The template of the route that answered (never the raw path)."""
    template = scope.get(ROUTE)
    if template is not None:
        return str(template)
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    return path + "/{path}" if isinstance(route, Mount) else path


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    method = scope["method"]
    key = (method if method in _METHODS else "other", route_of(scope), status)
    pair = _children.get(key)
    if pair is None:
        pair = (REQUESTS.labels(key[0], key[1], str(status)), LATENCY.labels(key[0], key[1]))
        _children[key] = pair
    pair[0].inc()
    pair[1].observe(seconds)


def watch_pool(engine: AsyncEngine) -> None:
    """Count the engine's connections in use (pool checkout and checkin events)."""
    pool = engine.sync_engine.pool
    event.listen(pool, "checkout", lambda *_: DB_CONNECTIONS_IN_USE.inc())
    event.listen(pool, "checkin", lambda *_: DB_CONNECTIONS_IN_USE.dec())


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def prepare_multiprocess_dir(directory: str) -> None:
    """Empty the directory of a previous run's files (prometheus-client's rule: values of dead
    processes would otherwise be added to the new ones)."""
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def process_stopped() -> None:
    """A worker leaving: its live gauges (connections in use) stop counting."""
    if multiprocess():
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class _Families:
    """A collector of metric families already made (the default registry's, the outbox's)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def _outbox_families(state: dict[str, float]) -> list[Metric]:
    return [
        GaugeMetricFamily(
            "gongzhi_outbox_pending", "Outbox events not yet processed.", state["pending"]
        ),
        GaugeMetricFamily(
            "gongzhi_outbox_failed",
            "Outbox events that exhausted their attempts (kept for an operator).",
            state["failed"],
        ),
        GaugeMetricFamily(
            "gongzhi_outbox_oldest_due_age_seconds",
            "How long the oldest pending event that is due has waited (0: none waiting).",
            state["oldest_due_age_seconds"],
        ),
        GaugeMetricFamily(
            "gongzhi_search_index_pending",
            "Changes to what the public may search that the index does not have yet.",
            state["search_index_pending"],
        ),
        GaugeMetricFamily(
            "gongzhi_search_index_failed",
            "Changes the index never took (attempts exhausted): run `gongzhi search reindex`.",
            state["search_index_failed"],
        ),
        GaugeMetricFamily(
            "gongzhi_search_index_lag_seconds",
            "How long the oldest change not yet in the search index has waited (0: none).",
            state["search_index_lag_seconds"],
        ),
    ]


def exposition(outbox: dict[str, float]) -> bytes:
    registry = CollectorRegistry()
    if multiprocess():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Families(REGISTRY.collect()))
    registry.register(_Families(_outbox_families(outbox)))
    return generate_latest(registry)


router = APIRouter(tags=["operations"])


def _authorised(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    # Here, not at the top: portal.errors counts rate-limit refusals with this module.
    from portal.errors import NotFound, Unauthenticated
    from portal.outbox.worker import backlog_state

    token: str = request.app.state.settings.metrics_token
    if not token:
        raise NotFound("Metrics are not exposed here.", detail_zh="此处不提供监控指标。")
    if not _authorised(request, token):
        raise Unauthenticated(
            "Metrics need the bearer token of GONGZHI_METRICS_TOKEN.",
            detail_zh="读取监控指标需要 GONGZHI_METRICS_TOKEN 令牌。",
            headers={"WWW-Authenticate": "Bearer"},
        )
    outbox = await backlog_state(request.app.state.database)
    return Response(exposition(outbox), media_type=CONTENT_TYPE)
