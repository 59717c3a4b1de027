"""/readyz: the photo object store, when photos live in one (the local disk is the shell's
``storage`` check)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI

from api.complaints.settings import ComplaintsSettings
from api.complaints.storage import get_storage


async def check(app: FastAPI) -> dict[str, Any]:
    if app.state.settings.of(ComplaintsSettings).photo_storage != "s3":
        return {}
    from api.complaints.s3_storage import S3PhotoStorage  # only where photos are in the store

    storage = get_storage(app.state.settings)
    if not isinstance(storage, S3PhotoStorage):
        return {}
    report: dict[str, Any] = {"backend": "s3", "bucket": storage.bucket}
    started = time.perf_counter()
    try:
        await storage.ping()
    except OSError as exc:  # reported under its own name, not the domain's
        return {"photo_store": {**report, "ok": False, "error": str(exc)[:200]}}
    report["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return {"photo_store": {**report, "ok": True}}
