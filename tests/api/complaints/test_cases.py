"""Submitting and following cases: both tracks, idempotency, tracking numbers, privacy."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from api.complaints.coords import from_wgs84
from api.complaints.models import Case, CaseParty, CoordSystem, Media
from api.complaints.settings import ComplaintsSettings
from portal.accounts.models import Role
from portal.db import Database
from portal.settings import Settings
from tests.api.complaints import images
from tests.api.complaints.support import complaint_body, report_body
from tests.support import assert_problem

NUMBER = re.compile(r"^JL\d{8}-\d{6}$")


async def test_anonymous_report_with_photos(
    client: httpx.AsyncClient, upload, database: Database
) -> None:
    media = [(await upload(images.jpeg(gps=False))).json()["id"] for _ in range(2)]
    response = await client.post("/api/v1/cases", json=report_body(media=media))
    assert response.status_code == 201, response.text
    body = response.json()
    assert NUMBER.match(body["tracking_number"])
    assert re.match(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$", body["access_token"])
    assert body["status"] == "received"
    assert body["kind"] == "report"
    assert body["deadlines"]["handling_basis"] == "verification"
    assert body["deadlines"]["handling_due"] is not None
    assert body["deadlines"]["acceptance_due"] is None
    async with database.transaction() as session:
        case = await session.scalar(
            select(Case).where(Case.tracking_number == body["tracking_number"])
        )
        assert case is not None
        assert case.anonymous
        assert case.access_token_hash != body["access_token"]  # stored hashed
        assert body["access_token"] not in case.access_token_hash
        parties = (
            await session.scalars(select(CaseParty).where(CaseParty.case_id == case.id))
        ).all()
        assert parties == []

    tracked = await client.get(
        f"/api/v1/cases/{body['tracking_number']}", headers={"X-Case-Token": body["access_token"]}
    )
    assert tracked.status_code == 200
    view = tracked.json()
    assert [e["type"] for e in view["timeline"]] == ["submitted"]
    assert len(view["photos"]) == 2
    # Media already attached cannot be attached to a second case.
    again = await client.post("/api/v1/cases", json=report_body(media=media[:1]))
    assert_problem(again, 422, "media_unavailable")


async def test_complaint_requires_identity_business_and_request(client: httpx.AsyncClient) -> None:
    body = complaint_body(complainant={"name": "张三"}, request=None, business={"address": "x"})
    response = await client.post("/api/v1/cases", json=body)
    problem = assert_problem(response, 422, "case_fields_invalid")
    fields = {e["field"] for e in problem["errors"]}
    assert {"complainant.phone", "business.name", "request"} <= fields
    # Each error says in Chinese what to do, for the form to show beside its field (issue 14).
    messages = {e["field"]: e["message_zh"] for e in problem["errors"]}
    assert "手机号码" in messages["complainant.phone"]
    assert "诉求" in messages["request"]
    assert "body" not in problem["detail_zh"]
    anonymous = await client.post("/api/v1/cases", json=complaint_body(anonymous=True))
    assert_problem(anonymous, 422, "case_fields_invalid")
    bad_phone = complaint_body(complainant={"name": "张三", "phone": "12345"}, description="短")
    invalid = assert_problem(
        await client.post("/api/v1/cases", json=bad_phone), 422, "validation_error"
    )
    by_field = {e["field"]: e for e in invalid["errors"]}
    assert by_field["body.complainant.phone"]["message_zh"] == "内容不符合要求，请检查后重新填写。"
    assert by_field["body.description"]["message_zh"] == "内容太短，至少需要 5 个字。"
    bad_uscc = complaint_body(business={"name": "x", "uscc": "91610402MA6X8Y2K71"})
    assert_problem(await client.post("/api/v1/cases", json=bad_uscc), 422, "validation_error")
    extra = complaint_body(extra={"goods": "排骨", "colour": "red"})
    assert_problem(await client.post("/api/v1/cases", json=extra), 422, "case_fields_invalid")
    missing_extra = report_body(extra={"instrument_kind": "scale"})
    missing = assert_problem(
        await client.post("/api/v1/cases", json=missing_extra), 422, "case_fields_invalid"
    )
    assert [e["message_zh"].startswith("请填写“") for e in missing["errors"]] == [True]
    unknown = report_body(category="speeding")
    assert_problem(await client.post("/api/v1/cases", json=unknown), 422, "unknown_category")
    region = report_body(region_code="999999")
    assert_problem(await client.post("/api/v1/cases", json=region), 422, "unknown_region")


async def test_complaint_and_report_in_one_make_two_linked_cases(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await client.post("/api/v1/cases", json=complaint_body(kind="both"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["kind"] == "complaint"
    assert body["deadlines"]["acceptance_due"] is not None
    [linked] = body["linked"]
    assert linked["kind"] == "report"
    assert linked["tracking_number"] != body["tracking_number"]
    token = {"X-Case-Token": body["access_token"]}
    report = (await client.get(f"/api/v1/cases/{linked['tracking_number']}", headers=token)).json()
    assert report["linked_tracking_number"] == body["tracking_number"]
    async with database.transaction() as session:
        parties = (await session.scalars(select(CaseParty))).all()
        assert sorted(p.role.value for p in parties) == ["complainant", "reporter"]
        assert all(p.phone == "13800138000" for p in parties)  # normalised


async def test_idempotent_replay_and_conflict(
    client: httpx.AsyncClient, database: Database
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/api/v1/cases", json=complaint_body(), headers=key)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    replay = await client.post("/api/v1/cases", json=complaint_body(), headers=key)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()  # same case, same token (the first answer was lost)
    changed = await client.post(
        "/api/v1/cases", json=complaint_body(description="另一件事：找零少了五元钱。"), headers=key
    )
    assert_problem(changed, 409, "idempotency_key_reused")
    async with database.transaction() as session:
        assert len((await session.scalars(select(Case))).all()) == 1


async def test_double_tap_makes_one_case(client: httpx.AsyncClient, database: Database) -> None:
    key = {"Idempotency-Key": "double-tap-" + uuid.uuid4().hex}
    responses = await asyncio.gather(
        *[client.post("/api/v1/cases", json=report_body(), headers=key) for _ in range(4)]
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["tracking_number"] for r in responses}) == 1
    async with database.transaction() as session:
        assert len((await session.scalars(select(Case))).all()) == 1


async def test_tracking_numbers_are_unique_under_concurrency(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *[client.post("/api/v1/cases", json=report_body()) for _ in range(8)]
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    numbers = sorted(r.json()["tracking_number"] for r in responses)
    assert len(set(numbers)) == 8
    sequence = [int(n.split("-")[1]) for n in numbers]
    assert sequence == list(range(sequence[0], sequence[0] + 8))


async def test_tracking_needs_the_token_or_the_owner(
    client: httpx.AsyncClient, make_user, auth_headers
) -> None:
    citizen = await make_user(Role.citizen)
    headers = await auth_headers(citizen)
    created = (await client.post("/api/v1/cases", json=complaint_body(), headers=headers)).json()
    number = created["tracking_number"]
    assert_problem(await client.get(f"/api/v1/cases/{number}"), 404, "case_not_found")
    wrong = {"X-Case-Token": "x" * 32}
    assert_problem(
        await client.get(f"/api/v1/cases/{number}", headers=wrong), 404, "case_not_found"
    )
    assert_problem(
        await client.get(
            "/api/v1/cases/JL20000101-000001", headers={"X-Case-Token": created["access_token"]}
        ),
        404,
        "case_not_found",
    )
    owner_view = await client.get(f"/api/v1/cases/{number}", headers=headers)
    assert owner_view.status_code == 200
    text = owner_view.text
    assert "13800138000" not in text
    assert "张三" not in text
    other = await make_user(Role.citizen)
    assert_problem(
        await client.get(f"/api/v1/cases/{number}", headers=await auth_headers(other)), 404
    )
    mine = await client.get("/api/v1/users/me/cases", headers=headers)
    assert mine.status_code == 200
    assert [c["tracking_number"] for c in mine.json()["items"]] == [number]
    assert_problem(await client.get("/api/v1/users/me/cases"), 401)


async def test_map_sdk_coordinates_are_stored_as_wgs84(
    client: httpx.AsyncClient, database: Database
) -> None:
    wgs = (34.329, 108.709)
    gcj = from_wgs84(*wgs, CoordSystem.gcj02)
    body = report_body(location={"lat": gcj[0], "lng": gcj[1], "coord_system": "gcj02"})
    number = (await client.post("/api/v1/cases", json=body)).json()["tracking_number"]
    async with database.transaction() as session:
        case = await session.scalar(select(Case).where(Case.tracking_number == number))
        assert case is not None
        assert case.lat == pytest.approx(wgs[0], abs=1e-6)
        assert case.lng == pytest.approx(wgs[1], abs=1e-6)
        assert case.coord_system is CoordSystem.gcj02


async def test_region_is_derived_from_the_address(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = report_body(
        region_code=None, business={"name": "某超市", "address": "陕西省咸阳市渭城区文汇路"}
    )
    number = (await client.post("/api/v1/cases", json=body)).json()["tracking_number"]
    async with database.transaction() as session:
        case = await session.scalar(select(Case).where(Case.tracking_number == number))
        assert case is not None
        assert case.region_code == "610404"
    vague = report_body(region_code=None, business={"name": "某超市", "address": "文汇路 8 号"})
    assert_problem(await client.post("/api/v1/cases", json=vague), 422, "region_required")


async def test_similar_cases(client: httpx.AsyncClient) -> None:
    here = {"lat": 34.3300, "lng": 108.7100, "coord_system": "wgs84"}
    first = await client.post(
        "/api/v1/cases", json=report_body(instrument_token="STK-1", location=here)
    )
    number = first.json()["tracking_number"]
    by_instrument = (
        await client.get("/api/v1/cases/similar", params={"instrument_token": "STK-1"})
    ).json()
    assert [(c["tracking_number"], c["match"]) for c in by_instrument["items"]] == [
        (number, "instrument")
    ]
    nearby = (
        await client.get(
            "/api/v1/cases/similar",
            params={"category": "unverified_instrument", "lat": 34.3305, "lng": 108.7102},
        )
    ).json()["items"]
    assert nearby[0]["match"] == "nearby"
    assert 0 < nearby[0]["distance_m"] < 100
    far = (
        await client.get(
            "/api/v1/cases/similar",
            params={"category": "unverified_instrument", "lat": 34.36, "lng": 108.71},
        )
    ).json()["items"]
    assert far == []
    by_business = (
        await client.get(
            "/api/v1/cases/similar",
            params={
                "category": "unverified_instrument",
                "business_name": "秦都区东门菜市场 刘记蔬菜",
            },
        )
    ).json()["items"]
    assert by_business[0]["match"] == "business"
    assert "description" not in by_business[0]


async def test_rate_limits_per_client_and_per_account(
    client: httpx.AsyncClient,
    app: FastAPI,
    settings: Settings,
    make_user,
    auth_headers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = settings.of(ComplaintsSettings)
    monkeypatch.setattr(config, "case_rate_limit_client", "3/minute")
    monkeypatch.setattr(config, "case_rate_limit_account", "2/minute")
    for _ in range(3):
        assert (await client.post("/api/v1/cases", json=report_body())).status_code == 201
    refused = await client.post("/api/v1/cases", json=report_body())
    assert_problem(refused, 429, "rate_limited")
    assert 0 < int(refused.headers["retry-after"]) <= 60

    monkeypatch.setattr(config, "case_rate_limit_client", "10/minute")
    await app.state.rate_limiter.reset()
    user = await make_user(Role.citizen)
    headers = await auth_headers(user)
    for _ in range(2):
        assert (
            await client.post("/api/v1/cases", json=report_body(), headers=headers)
        ).status_code == 201
    assert_problem(await client.post("/api/v1/cases", json=report_body(), headers=headers), 429)
    # The limit is per account: the same address without that account may still submit.
    assert (await client.post("/api/v1/cases", json=report_body())).status_code == 201


async def test_one_photo_sent_with_two_reports_at_once_goes_to_one(
    client: httpx.AsyncClient, database: Database, upload
) -> None:
    """Both submissions read the photo free; only one may attach it (the other fails whole, its
    case rows rolled back), never the last write taking it from the first case."""
    photo = (await upload(images.jpeg())).json()["id"]
    raced = await asyncio.gather(
        *[client.post("/api/v1/cases", json=report_body(media=[photo])) for _ in range(2)]
    )
    assert sorted(r.status_code for r in raced) == [201, 422], [r.text for r in raced]
    loser = raced[[r.status_code for r in raced].index(422)]
    assert_problem(loser, 422, "media_unavailable")
    winner = raced[[r.status_code for r in raced].index(201)].json()["tracking_number"]
    async with database.transaction() as session:
        cases = (await session.scalars(select(Case))).all()
        assert [c.tracking_number for c in cases] == [winner]
        media = await session.get(Media, uuid.UUID(photo))
        assert media is not None
        assert media.case_id == cases[0].id


async def test_a_tracking_number_is_found_however_it_is_typed(client: httpx.AsyncClient) -> None:
    """An app passes on what its user typed: lower case from a phone's keyboard, full-width from a
    Chinese input method, spaces around it. The web page upper-cased it; the API answered 404."""
    created = (await client.post("/api/v1/cases", json=report_body())).json()
    number = created["tracking_number"]
    token = {"X-Case-Token": created["access_token"]}
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in number.lower())
    for typed in (number.lower(), full_width, f" {number} "):
        tracked = await client.get(f"/api/v1/cases/{typed}", headers=token)
        assert tracked.status_code == 200, typed
        assert tracked.json()["tracking_number"] == number
