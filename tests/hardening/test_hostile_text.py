"""Hostile text everywhere it is shown, in a real browser against the real server: script tags,
``<img onerror>`` and ``javascript:`` links planted in a complaint description, article Markdown,
an enterprise's credit reply and a search query never execute, never become elements, and search
highlighting (``<mark>``) carries no markup."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

DEMO_PASSWORD = "gongzhi-demo-2026"
MARKER = f"xss{uuid.uuid4().hex[:8]}"
PAYLOADS = [
    f'<script>window.{MARKER}=1;alert("{MARKER}")</script>',
    f'<img id="{MARKER}-img" src="x" onerror="alert(\'{MARKER}\')">',
    f'<a id="{MARKER}-a" href="javascript:alert(\'{MARKER}\')">点我</a>',
    f"[链接{MARKER}](javascript:alert('{MARKER}'))",
    f'"><svg id="{MARKER}-svg" onload="alert(1)">',
]
HOSTILE = "计量器具 " + " ".join(PAYLOADS) + " 电子秤短斤少两"


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def token(api: httpx.AsyncClient, base: str, email: str) -> dict[str, str]:
    response = await api.post(
        base + "/api/v1/auth/jwt/login",
        data={"username": email, "password": DEMO_PASSWORD},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def watch(page: Any) -> list[str]:
    dialogs: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


async def assert_inert(page: Any, dialogs: list[str], *, visible_text: bool = True) -> None:
    """No dialog fired, no injected element or handler exists, no javascript: link, the planted
    script did not run, and (where the page shows it) the payload is visible as text."""
    await page.wait_for_timeout(300)  # give onerror/onload a chance to fire
    assert dialogs == []
    found = await page.evaluate(
        """(marker) => ({
            ran: window[marker] !== undefined,
            ids: [...document.querySelectorAll(`[id^="${marker}"]`)].map(e => e.tagName),
            handlers: [...document.querySelectorAll('*')].filter(e =>
                [...e.attributes].some(a => a.name.startsWith('on'))).map(e => e.outerHTML),
            js_links: [...document.querySelectorAll('[href],[src],[action],[formaction]')].filter(e =>
                ['href','src','action','formaction'].some(n =>
                    (e.getAttribute(n) || '').trim().toLowerCase().startsWith('javascript:')))
                .map(e => e.outerHTML),
            scripts: [...document.scripts].filter(s => s.textContent.includes(marker)).length,
            text: document.body.innerText,
        })""",
        MARKER,
    )
    assert not found["ran"]
    assert found["ids"] == []
    assert found["handlers"] == []
    assert found["js_links"] == []
    assert found["scripts"] == 0
    if visible_text:
        assert MARKER in found["text"]


async def login(page: Any, base: str, email: str, next_path: str) -> None:
    await page.goto(f"{base}/login?next={next_path}")
    await page.get_by_label("邮箱").fill(email)
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url("**" + next_path)


async def test_complaint_description_on_the_staff_case_page(
    page: Any, live_server: str, api: httpx.AsyncClient
) -> None:
    body = {
        "kind": "report",
        "category": "unverified_instrument",
        "description": HOSTILE,
        "business": {"name": f"<b>恶意商户</b>{PAYLOADS[1]}", "address": PAYLOADS[2]},
        "region_code": "610402",
        "extra": {"instrument_kind": "scale", "sticker_state": "missing"},
        "anonymous": True,
    }
    created = await api.post(live_server + "/api/v1/cases", json=body, timeout=30)
    assert created.status_code == 201, created.text
    staff = await token(api, live_server, "regulator@gongzhi.demo")
    queue = (await api.get(live_server + "/api/v1/staff/cases", headers=staff)).json()
    items = queue["items"] if isinstance(queue, dict) else queue
    number = created.json()["tracking_number"]
    case_id = next(c["id"] for c in items if c["tracking_number"] == number)

    dialogs = await watch(page)
    await login(page, live_server, "regulator@gongzhi.demo", "/staff/complaints")
    await assert_inert(page, dialogs, visible_text=False)  # the queue lists it
    await page.goto(f"{live_server}/staff/complaints/{case_id}")
    await assert_inert(page, dialogs)


async def test_article_markdown_on_the_public_article_page(
    page: Any, live_server: str, api: httpx.AsyncClient
) -> None:
    editor = await token(api, live_server, "editor@gongzhi.demo")
    markdown = (
        f"# 计量小知识 {MARKER}\n\n"
        + "\n\n".join(PAYLOADS)
        + f"\n\n<iframe id='{MARKER}-frame' src='javascript:alert(1)'></iframe>\n\n"
        + f"![图]({'javascript:alert(1)'})\n\n[普通链接](https://example.cn)\n"
    )
    created = await api.post(
        live_server + "/api/v1/articles",
        json={
            "title": f"电子秤 {PAYLOADS[0]}",
            "summary": PAYLOADS[1],
            "body": markdown,
            "publish": True,
        },
        headers=editor,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    dialogs = await watch(page)
    await page.goto(f"{live_server}/articles/{created.json()['id']}")
    await assert_inert(page, dialogs)
    # Markdown still works: the harmless link is a link.
    assert await page.locator('a[href="https://example.cn"]').count() == 1


async def test_enterprise_reply_on_the_credit_page(
    page: Any, live_server: str, api: httpx.AsyncClient
) -> None:
    association = await token(api, live_server, "association@gongzhi.demo")
    ratings = await api.get(
        live_server + "/api/v1/credit/association/ratings", headers=association, timeout=30
    )
    assert ratings.status_code == 200, ratings.text
    uscc = ratings.json()["items"][0]["uscc"]
    reply = await api.post(
        f"{live_server}/api/v1/credit/association/ratings/{uscc}/reply",
        json={"text": HOSTILE},
        headers=association,
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    dialogs = await watch(page)
    await page.goto(f"{live_server}/credit/enterprises/{uscc}")
    await assert_inert(page, dialogs)


async def test_search_query_and_highlighting(
    page: Any, live_server: str, api: httpx.AsyncClient
) -> None:
    dialogs = await watch(page)
    for query in PAYLOADS:
        await page.goto(f"{live_server}/search?{httpx.QueryParams({'q': query})}")
        await assert_inert(page, dialogs, visible_text=False)
        assert await page.locator("input[name=q]").first.input_value() == query
    # A published article whose text is hostile, found by a word next to the markup: the
    # highlighted fragments are text only.
    editor = await token(api, live_server, "editor@gongzhi.demo")
    word = MARKER + "word"
    created = await api.post(
        live_server + "/api/v1/articles",
        json={
            "title": f"{word} <mark><img src=x onerror=alert(1)></mark>",
            "summary": f"{word} <script>alert(1)</script>",
            "body": f"{word} {PAYLOADS[1]} {word} </mark><b id='{MARKER}-b'>粗</b>",
            "publish": True,
        },
        headers=editor,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    for _ in range(100):  # indexing runs through the outbox: wait until the article is found
        found = await api.get(live_server + "/api/v1/search", params={"q": word}, timeout=30)
        if found.status_code == 200 and found.json()["total"] > 0:
            break
        await page.wait_for_timeout(200)
    else:
        raise AssertionError(f"the article was never indexed: {found.text}")
    await page.goto(f"{live_server}/search?{httpx.QueryParams({'q': word})}")
    await assert_inert(page, dialogs)
    marks = page.locator("mark")
    assert await marks.count() >= 1
    inner = await page.evaluate(
        "() => [...document.querySelectorAll('mark')].map(m => m.children.length)"
    )
    assert set(inner) == {0}
