"""The baseline for bench/lookup.py: a bare FastAPI endpoint returning constant JSON on the same
path shape, served by the same uvicorn options."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()

BODY = {
    "number": "B0000001",
    "kind": "certificate",
    "status": "valid",
    "institution": {"code": "BENCH", "name": "咸阳市计量检定测试所"},
}


@app.get("/api/v1/certificates/{number}")
async def certificate(number: str) -> dict[str, object]:
    return BODY
