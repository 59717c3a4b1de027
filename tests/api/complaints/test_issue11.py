"""Regression tests for the complaint findings of issue 11 (docs/reliability.md, "Issue 11
findings"): each failed on main before its fix."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import select

from api.complaints.models import Case
from api.complaints.tracking import distance_m
from portal.accounts.models import Role, User
from portal.db import Database
from tests.api.complaints import images
from tests.api.complaints.support import complaint_body, report_body
from tests.support import TEST_PASSWORD, assert_problem

DATA = Path(__file__).parent / "data"
# 38 bytes of lossless WebP that decode to 10,480 × 10,480 pixels (under the 110 MP cap).
WEBP_BOMB = DATA / "bomb-10480.webp"
R = 6_371_000.0


def _to_plane(lat0: float, lng0: float, lat: float, lng: float) -> tuple[float, float]:
    x = math.radians(lng - lng0) * R * math.cos(math.radians(lat0))
    y = math.radians(lat - lat0) * R
    return x, y


def _trilaterate(points: list[tuple[float, float]], distances: list[float]) -> tuple[float, float]:
    """The point at the given distances from three points (linearised circle equations)."""
    (x1, y1), (x2, y2), (x3, y3) = points
    d1, d2, d3 = distances
    a1, b1 = 2 * (x2 - x1), 2 * (y2 - y1)
    c1 = d1**2 - d2**2 - x1**2 + x2**2 - y1**2 + y2**2
    a2, b2 = 2 * (x3 - x1), 2 * (y3 - y1)
    c2 = d1**2 - d3**2 - x1**2 + x3**2 - y1**2 + y3**2
    det = a1 * b2 - a2 * b1
    return (c1 * b2 - c2 * b1) / det, (a1 * c2 - a2 * c1) / det


async def test_similar_cases_do_not_give_away_the_exact_location(
    client: httpx.AsyncClient,
) -> None:
    """#5: three queries around an open case used to locate it to under a metre."""
    # A stall about 50 m north-east of its ~100 m public grid point (34.330, 108.710).
    true_lat, true_lng = 34.33045, 108.71045
    location = {"lat": true_lat, "lng": true_lng, "coord_system": "wgs84"}
    created = await client.post("/api/v1/cases", json=report_body(location=location))
    assert created.status_code == 201, created.text
    probes = [(34.3310, 108.7090), (34.3290, 108.7095), (34.3300, 108.7120)]
    distances = []
    for lat, lng in probes:
        found = await client.get(
            "/api/v1/cases/similar",
            params={"category": "unverified_instrument", "lat": lat, "lng": lng},
        )
        [item] = found.json()["items"]
        distances.append(float(item["distance_m"]))
    origin = probes[0]
    x, y = _trilaterate([_to_plane(*origin, *p) for p in probes], distances)
    true_x, true_y = _to_plane(*origin, true_lat, true_lng)
    public_x, public_y = _to_plane(*origin, 34.330, 108.710)
    # What can be recovered is the public point (as Open311 shows it), not the stall.
    assert math.hypot(x - true_x, y - true_y) > 50
    assert math.hypot(x - public_x, y - public_y) < 20
    assert distance_m(true_lat, true_lng, 34.330, 108.710) > 50


async def test_idempotency_keys_are_scoped_per_client(app: FastAPI, database: Database) -> None:
    """#10: a second anonymous client replaying someone else's key and body got their token."""
    key = {"Idempotency-Key": "shared-key-0001"}

    def client_at(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    try:
        async with client_at("203.0.113.10") as first, client_at("198.51.100.20") as second:
            mine = await first.post("/api/v1/cases", json=complaint_body(), headers=key)
            assert mine.status_code == 201, mine.text
            theirs = await second.post("/api/v1/cases", json=complaint_body(), headers=key)
            assert theirs.status_code == 201, theirs.text
            assert "idempotent-replayed" not in theirs.headers
            assert theirs.json()["access_token"] != mine.json()["access_token"]
            assert theirs.json()["tracking_number"] != mine.json()["tracking_number"]
            # The same client still gets its own first answer back.
            again = await first.post("/api/v1/cases", json=complaint_body(), headers=key)
            assert again.headers["idempotent-replayed"] == "true"
            assert again.json() == mine.json()
    finally:
        from tests.support import empty_tables

        await empty_tables(database)


async def test_originals_with_gps_are_for_the_handling_regulator_only(
    client: httpx.AsyncClient, upload, make_user, auth_headers
) -> None:
    """#6: an administrator, who sees the parties masked, downloaded originals with EXIF GPS."""
    media = (await upload(images.jpeg(gps=True))).json()
    created = await client.post("/api/v1/cases", json=complaint_body(media=[media["id"]]))
    assert created.status_code == 201, created.text
    path = f"/api/v1/staff/media/{media['id']}/original"
    admin = await make_user(Role.admin, region="610000")
    assert_problem(await client.get(path, headers=await auth_headers(admin)), 403)
    regulator = await make_user(Role.regulator, region="610400")
    response = await client.get(path, headers=await auth_headers(regulator))
    assert response.status_code == 200


async def _case_id(database: Database, number: str) -> str:
    async with database.transaction() as session:
        found = await session.scalar(select(Case.id).where(Case.tracking_number == number))
    return str(found)


async def _login(client: httpx.AsyncClient, user: User) -> None:
    response = await client.post(
        "/login", data={"email": user.email, "password": TEST_PASSWORD, "next": "/account"}
    )
    assert response.status_code == 303, response.text


async def test_the_case_page_shows_no_text_from_the_url(
    client: httpx.AsyncClient, database: Database, make_user
) -> None:
    """#12: ``?error=`` put any text in a red alert on the regulator's case page."""
    created = (await client.post("/api/v1/cases", json=report_body())).json()
    cid = await _case_id(database, created["tracking_number"])
    await _login(client, await make_user(Role.regulator, region="610400"))
    bait = "案件已转交，请致电 400-000-0000 核实身份"
    page = await client.get(f"/staff/complaints/{cid}", params={"error": bait})
    assert page.status_code == 200
    assert bait not in page.text
    assert 'class="alert error"' not in page.text  # (the calendar's warning may show: not an error)
    # A refused action still explains itself, in the words of the rule that refused it (the
    # page is rendered in the answer to the post, nothing of it travels in a URL).
    refused = await client.post(
        f"/staff/complaints/{cid}/actions", data={"action": "close"}, follow_redirects=False
    )
    assert refused.status_code == 409
    assert "“关闭”未完成" in refused.text
    assert "不能执行该操作" in refused.text
    assert "/staff/complaints/" not in refused.headers.get("location", "")


_MEASURE = """
import json, resource, sys
from pathlib import Path
from api.complaints import photos
from api.complaints.settings import ComplaintsSettings
defaults = ComplaintsSettings()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    photos.process(Path(sys.argv[1]), "WEBP", max_pixels=defaults.media_max_pixels,
                   budget_bytes=defaults.media_decode_budget_bytes)
    outcome = "decoded"
except Exception as exc:
    outcome = getattr(exc, "code", type(exc).__name__)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "peak_mib": (after - before) / 1024}))
"""


def _measure(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_tiny_webp_of_huge_dimensions_is_refused_within_the_memory_budget() -> None:
    """#13: 38 bytes of lossless WebP made the server allocate 1.6 GB to decode them."""
    assert WEBP_BOMB.stat().st_size < 4096
    result = _measure(WEBP_BOMB)
    assert result["outcome"] == "image_too_large"
    assert result["peak_mib"] < 64  # the default budget is 512 MiB; this never starts decoding


async def test_the_webp_bomb_is_a_client_error(upload) -> None:
    response = await upload(WEBP_BOMB.read_bytes(), filename="x.webp", content_type="image/webp")
    assert_problem(response, 422, "image_too_large")


async def test_a_nul_character_is_bad_input_not_a_server_error(
    client: httpx.AsyncClient, database: Database, database_url: str
) -> None:
    """Attack review: a NUL character in text reached PostgreSQL, which refuses it (SQLSTATE
    22021), and the portal answered 500 — anonymous visitors included. Class 22 is bad input:
    a 422 problem, and nothing of the request kept. SQLite would store the character, so a
    submission is refused before the flush on both databases alike (portal/db.py)."""
    sent = await client.post(
        "/api/v1/cases", json=complaint_body(description="短斤少两\x00的问题很多，请核查。")
    )
    lookup = await client.get("/api/v1/certificates/A%00B")
    credit = await client.get("/api/v1/credit/ratings", params={"q": "a\x00b"})
    async with database.transaction() as session:
        stored = list(await session.scalars(select(Case.id)))
    assert_problem(sent, 422, "invalid_value")
    assert "空字符" in sent.json()["detail_zh"]
    assert stored == []
    if database_url.startswith("postgresql"):
        assert_problem(lookup, 422, "invalid_value")
        assert_problem(credit, 422, "invalid_value")
    else:  # a query, not a write: SQLite compares the character like any other
        assert lookup.status_code == 404
        assert credit.status_code == 200
