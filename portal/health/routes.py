from __future__ import annotations

import time
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from portal.accounts.auth import OptionalUser
from portal.domains import modules
from portal.outbox.worker import backlog
from portal.ratelimit import RateLimiter

log = structlog.get_logger("gongzhi.health")

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check_database(request: Request) -> dict[str, Any]:
    database = request.app.state.database
    started = time.perf_counter()
    async with database.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    return {
        "ok": True,
        "backend": database.engine.dialect.name,
        "ms": round((time.perf_counter() - started) * 1000, 1),
        "outbox": await backlog(database),
    }


async def _check_rate_limiter(request: Request) -> dict[str, Any]:
    limiter: RateLimiter = request.app.state.rate_limiter
    return {
        "ok": await limiter.reachable(),
        "shared": request.app.state.settings.shares_rate_limits,
    }


async def _check_storage(request: Request) -> dict[str, Any]:
    storage_dir = request.app.state.settings.storage_dir
    storage_dir.mkdir(parents=True, exist_ok=True)
    probe = storage_dir / ".readyz"
    probe.write_bytes(b"ok")
    probe.unlink()
    return {"ok": True, "path": str(storage_dir)}


@router.get(
    "/readyz",
    summary="Database, storage, rate limiter and each domain's services: ok or failing",
    description="Anyone sees whether each dependency is ok; administrators also see the details "
    "(backend, latency, backlog, error), which tell an outsider where data lives.",
)
async def readyz(request: Request, user: OptionalUser) -> JSONResponse:
    checks: dict[str, Any] = {}
    for name, check in [
        ("database", _check_database),
        ("storage", _check_storage),
        ("rate_limiter", _check_rate_limiter),
    ]:
        try:
            checks[name] = await check(request)
        except Exception as exc:  # a readiness probe reports failures, it does not raise them
            checks[name] = {"ok": False, "error": type(exc).__name__, "detail": str(exc)[:200]}
    for domain, module in modules("health"):
        try:
            checks.update(await module.check(request.app))
        except Exception as exc:
            checks[domain] = {"ok": False, "error": type(exc).__name__, "detail": str(exc)[:200]}
    ready = all(check.get("ok") for check in checks.values())
    failing = {name: check for name, check in checks.items() if not check.get("ok")}
    if failing:
        log.warning("not ready", checks=failing)
    if user is None or not user.is_superuser:
        checks = {name: {"ok": bool(check.get("ok"))} for name, check in checks.items()}
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )
