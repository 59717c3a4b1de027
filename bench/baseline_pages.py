"""The baselines of bench/pages.py: a bare FastAPI app served by the same uvicorn options as
``gongzhi serve``, with one route rendering a Jinja template (``/page``) and one returning constant
JSON (``/json``). The template is written by bench/pages.py into ``BENCH_TEMPLATE_DIR``: the text
of the portal's sticker page, so the baseline renders and sends the same number of bytes."""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

app = FastAPI()
templates = Jinja2Templates(directory=os.environ.get("BENCH_TEMPLATE_DIR", "."))

BODY = {
    "number": "B0000001",
    "kind": "certificate",
    "status": "valid",
    "institution": {"code": "BENCH", "name": "咸阳市计量检定测试所"},
}


@app.get("/page")
async def page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "page.html", {"title": "检定标志核验", "n": 1})


@app.get("/json")
async def json_body() -> dict[str, object]:
    return BODY
