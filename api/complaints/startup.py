"""At start-up: nothing to warm, but the object store's connection pool (GONGZHI_PHOTO_STORAGE=s3)
is closed with the app, so no connection is left open when the event loop ends."""

from __future__ import annotations

from fastapi import FastAPI

from api.complaints.storage import close_storages


async def start(app: FastAPI) -> None:
    app.state.shutdown_hooks.append(close_storages)
