"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from portal import crypto, domains, heap, metrics, workdays
from portal.accounts.auth import build_cookie_transport, cookie_backend
from portal.cache import open_cache
from portal.db import Database
from portal.errors import install_error_handlers
from portal.middleware import (
    BodySizeLimit,
    CrossSiteRequestGuard,
    RequestContext,
    SecurityHeaders,
    configure_logging,
)
from portal.openapi import document_problems
from portal.outbox.service import JobContext
from portal.outbox.worker import OutboxWorker
from portal.pagecache import PageCache
from portal.ratelimit import RateLimiter
from portal.settings import Environment, Settings, get_settings
from portal.web import ROOT, templates
from portal.workdays import service as calendar_service
from portal.workdays.settings import CalendarSettings


def _operation_id(route: APIRoute) -> str:
    # Stable, client-friendly operation ids for generated mobile SDKs: "<tag>-<function name>".
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def create_app(settings: Settings | None = None, *, settle_heap: bool = False) -> FastAPI:
    """The app. ``settle_heap`` (a serving process only, portal/main.py): freeze the start-up's
    objects once it has warmed up (portal/heap.py)."""
    settings = settings or get_settings()
    settings.check_domains()
    configure_logging(json_lines=settings.log_json)
    # Templates are read once: checking each file's time on every render (Jinja's auto_reload)
    # is for editing them in development.
    templates.env.auto_reload = settings.env is Environment.development
    crypto.configure(settings)
    domains.import_models()
    domains.import_jobs()
    calendar = settings.of(CalendarSettings)
    workdays.configure(unknown_year=calendar.calendar_unknown_year)
    tracing = None
    if settings.otel_enabled:  # the OpenTelemetry SDK is imported only then
        from portal.tracing import Tracing

        tracing = Tracing(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database.from_settings(settings, cache=cache)
        app.state.database = database
        # Domains that open their own resources (a driver pool for a hot path) close them here.
        app.state.shutdown_hooks = []
        stop = asyncio.Event()
        # Imported holiday notices, in memory for the synchronous working-day functions.
        calendar_task = await calendar_service.start(
            database, stop, every=calendar.calendar_refresh_seconds
        )
        # Domains start warming what their first request would pay for (search: jieba, engine),
        # each adding its task to app.state.warm_ups.
        app.state.warm_ups = []
        for _, module in domains.modules("startup"):
            await module.start(app)
        settling = asyncio.create_task(heap.settle(app.state.warm_ups)) if settle_heap else None
        worker_task = None
        if settings.run_worker_in_process:
            worker = OutboxWorker(
                database,
                max_attempts=settings.outbox_max_attempts,
                lease=timedelta(seconds=settings.outbox_lease_seconds),
                context=JobContext(settings=settings, state=app.state),
            )
            worker_task = asyncio.create_task(
                worker.run_forever(stop, poll_seconds=settings.worker_poll_seconds)
            )
        try:
            yield
        finally:
            stop.set()
            if settling is not None:
                settling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await settling
            if worker_task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker_task
            with contextlib.suppress(asyncio.CancelledError):
                await calendar_task
            for hook in app.state.shutdown_hooks:
                await hook()
            await database.dispose()
            await cache.close()
            metrics.process_stopped()
            if tracing is not None:
                await asyncio.to_thread(tracing.shutdown)  # exports the spans still queued

    app = FastAPI(
        title="共治 Gongzhi API",
        version="0.1.0",
        description="计量社会共治平台：证书查询、投诉举报、信用评价、全文检索。"
        " Every error is RFC 9457 application/problem+json with a stable `code`.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        # GONGZHI_API_DOCS: public outside production unless switched off (portal/settings.py).
        openapi_url="/openapi.json" if settings.api_docs else None,
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
        # FastAPI's built-in OpenTelemetry would switch itself on whenever a global provider is
        # configured (FASTAPI_OTEL_AUTO_CONFIGURE, opentelemetry-instrument) and record the raw
        # path and query string, which can hold personal data. The portal's own spans
        # (GONGZHI_OTEL_ENABLED, portal/tracing.py) record the route template instead.
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    app.state.settings = settings
    app.state.tracing = tracing
    app.state.rate_limiter = RateLimiter(settings.rate_limit_storage, settings.cache_prefix)
    # Cached answers (portal/cache.py): the page cache and the credit totals read it, and the
    # database's transactions invalidate it when they change public data.
    cache = app.state.cache = open_cache(settings.cache_url, settings.cache_prefix)
    cookie_backend.transport = build_cookie_transport(settings)

    install_error_handlers(app)
    document_problems(app)
    for _, module in domains.modules("routes"):
        app.include_router(module.router)
    for _, module in domains.modules("pages"):
        app.include_router(module.router)
    app.include_router(metrics.router)  # 404 unless GONGZHI_METRICS_TOKEN is set
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")

    origins = {o.strip() for o in settings.cors_origins.split(",") if o.strip()}
    # Added innermost first: RequestContext ends up outermost, so every response has an id.
    # A domain's hot path (a pure ASGI shortcut for its busiest route) sits innermost.
    for _, module in domains.modules("hotpath"):
        app.add_middleware(module.HotPath)
    app.add_middleware(
        BodySizeLimit, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes
    )
    app.add_middleware(CrossSiteRequestGuard, allowed_origins=origins)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=sorted(origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Case-Token"],
        )
    # Inside SecurityHeaders and RequestContext: a cached answer still gets its own request id,
    # access log line and security headers.
    app.add_middleware(PageCache, seconds=settings.page_cache_seconds, cache=cache)
    app.add_middleware(
        SecurityHeaders,
        hsts=settings.env is Environment.production,
        image_origins=(settings.map_tile_origin,) if settings.map_tile_origin else (),
    )
    app.add_middleware(RequestContext, tracing=tracing)
    return app
