"""Field inspections through the API, on SQLite and PostgreSQL: a drawn campaign's sites become
inspections; the drawn inspector (their badge tied to their account) and the region's bureau
read and record them, nobody else; recording is idempotent; a failed check is a finding that
feeds the next risk score; results are public a set number of working days later (一公开)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from api.complaints.media import cleanup_orphan_media
from api.complaints.models import Media
from api.instruments.review import enter_due_registrations
from enforcement.models import Inspection
from enforcement.schemas import MAX_CHECKS
from enforcement.settings import EnforcementSettings
from portal import clock, workdays
from portal.accounts.models import Organization, Role, User
from portal.db import Database
from portal.settings import Settings
from tests.api.certificates.support import cert_body
from tests.api.complaints.images import jpeg
from tests.enforcement.support import Sites, campaign_body, inspection_result
from tests.support import assert_problem

Headers = Callable[[User], Awaitable[dict[str, str]]]


async def _drawn(client: httpx.AsyncClient, bureau: dict[str, str], weicheng: str) -> str:
    created = await client.post(
        "/api/v1/enforcement/campaigns",
        json=campaign_body(weicheng, sample_size=2, categories=[], usage_areas=[]),
        headers=bureau,
    )
    assert created.status_code == 201, created.text
    campaign_id: str = created.json()["id"]
    drawn = await client.post(f"/api/v1/enforcement/campaigns/{campaign_id}/draw", headers=bureau)
    assert drawn.status_code == 200, drawn.text
    return campaign_id


async def test_the_inspectors_day_from_draw_to_publication(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    sites: Sites,
) -> None:
    bureau, qindu, weicheng = sites
    campaign_id = await _drawn(client, bureau, weicheng)

    # The bureau (咸阳市, a supervisor) sees both drawn sites as inspections to do.
    listed = await client.get(
        "/api/v1/enforcement/inspections", params={"campaign": campaign_id}, headers=bureau
    )
    assert listed.status_code == 200, listed.text
    by_site = {i["site_id"]: i for i in listed.json()["items"]}
    assert set(by_site) == {qindu, weicheng}
    assert all(i["status"] == "assigned" for i in by_site.values())
    # 渭城区's site: 李明 (渭城区) has a conflict and 赵强 is excluded, so 张建国 and 王芳 go.
    assert sorted(by_site[weicheng]["inspectors"]) == ["ZF-001", "ZF-003"]
    inspection = by_site[weicheng]["id"]

    # 张建国 signs in with a 秦都区 account; the bureau ties his badge to it.
    zhang = await make_user(Role.regulator, region="610402")
    mine = await auth_headers(zhang)
    nothing = await client.get("/api/v1/enforcement/inspections?mine=1", headers=mine)
    assert nothing.json()["total"] == 0
    tied = await client.put(
        "/api/v1/enforcement/inspectors/ZF-001", json={"user_id": str(zhang.id)}, headers=bureau
    )
    assert tied.status_code == 200, tied.text
    again = await client.put(
        "/api/v1/enforcement/inspectors/ZF-001", json={"user_id": str(zhang.id)}, headers=bureau
    )
    assert again.status_code == 200
    other = await make_user(Role.regulator, region="610402")
    assert_problem(
        await client.put(
            "/api/v1/enforcement/inspectors/ZF-001",
            json={"user_id": str(other.id)},
            headers=bureau,
        ),
        409,
        "badge_taken",
    )

    day = await client.get("/api/v1/enforcement/inspections?mine=1", headers=mine)
    assert [i["id"] for i in day.json()["items"]] == [inspection]
    form = await client.get(f"/api/v1/enforcement/inspections/{inspection}", headers=mine)
    assert form.status_code == 200, form.text
    instruments = form.json()["instruments"]
    assert len(instruments) == 1
    assert instruments[0]["category_code"] == "scale-pc"

    # A regulator of the site's own district without the badge, and one of another region: no.
    own_district = await auth_headers(await make_user(Role.regulator, region="610403"))
    xian = await auth_headers(await make_user(Role.regulator, region="610102"))
    for outsider in (own_district, xian):
        assert_problem(
            await client.get(f"/api/v1/enforcement/inspections/{inspection}", headers=outsider),
            403,
            "region_forbidden",
        )
        assert_problem(
            await client.put(
                f"/api/v1/enforcement/inspections/{inspection}/result",
                json=inspection_result(instruments),
                headers={**outsider, "Idempotency-Key": str(uuid.uuid4())},
            ),
            403,
            "region_forbidden",
        )
    assert (await client.get(f"/api/v1/enforcement/inspections/{inspection}")).status_code == 401

    # A photo through the one photo intake, then the result, recorded once.
    photo = await client.post(
        "/api/v1/media", files={"file": ("p.jpg", jpeg(), "image/jpeg")}, headers=mine
    )
    assert photo.status_code == 201, photo.text
    photo_id = photo.json()["id"]
    body = inspection_result(instruments, photos=[photo_id])
    key = str(uuid.uuid4())
    put = f"/api/v1/enforcement/inspections/{inspection}/result"
    recorded = await client.put(put, json=body, headers={**mine, "Idempotency-Key": key})
    assert recorded.status_code == 200, recorded.text
    result = recorded.json()
    assert result["status"] == "done"
    assert result["outcome"] == "failed"
    assert result["follow_up"] == "correct"
    assert "封印破损" in result["findings"]
    assert [p["id"] for p in result["photos"]] == [photo_id]
    assert result["checks"][0]["scan"] == "not_scanned"
    today = clock.today()
    days = settings.of(EnforcementSettings).enforcement_publish_working_days
    assert result["publish_on"] == workdays.add_working_days(today, days).isoformat()

    # A replay (the answer was lost on a weak signal) answers the same record.
    replay = await client.put(put, json=body, headers={**mine, "Idempotency-Key": key})
    assert replay.status_code == 200
    assert replay.json()["inspected_at"] == result["inspected_at"]
    assert_problem(
        await client.put(
            put, json={**body, "note": "改了"}, headers={**mine, "Idempotency-Key": key}
        ),
        409,
        "idempotency_key_reused",
    )
    assert_problem(
        await client.put(put, json=body, headers={**mine, "Idempotency-Key": str(uuid.uuid4())}),
        409,
        "inspection_already_recorded",
    )
    async with database.transaction() as session:
        rows = (
            (
                await session.execute(
                    select(Inspection).where(col(Inspection.campaign_id) == uuid.UUID(campaign_id))
                )
            )
            .scalars()
            .all()
        )
        assert sorted(str(r.status) for r in rows) == ["assigned", "done"]
        held = await session.get(Media, uuid.UUID(photo_id))
        assert held is not None
        assert held.held_by == f"enforcement_inspection:{inspection}"
    # Evidence, not an orphan: the sweep of photos attached to no case leaves it, days later.
    async with database.transaction() as session:
        swept = await cleanup_orphan_media(
            session, settings=settings, now=clock.now() + timedelta(days=30)
        )
        assert swept["orphans"] == 0
        assert await session.get(Media, uuid.UUID(photo_id)) is not None

    # The bureau (supervisor) records the other site; 张建国 is not drawn for it.
    assert_problem(
        await client.get(f"/api/v1/enforcement/inspections/{by_site[qindu]['id']}", headers=mine),
        403,
        "region_forbidden",
    )
    qindu_form = await client.get(
        f"/api/v1/enforcement/inspections/{by_site[qindu]['id']}", headers=bureau
    )
    done = await client.put(
        f"/api/v1/enforcement/inspections/{by_site[qindu]['id']}/result",
        json=inspection_result(
            qindu_form.json()["instruments"], acknowledgement="refused", signatory=""
        ),
        headers={**bureau, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert done.status_code == 200, done.text
    assert done.json()["acknowledgement"] == "refused"

    # The finding is a fact of the site's next risk score.
    scored = await client.post(
        f"/api/v1/enforcement/risk-scores/{weicheng}/recompute", headers=bureau
    )
    assert scored.status_code == 200, scored.text
    assert [f["inspection_id"] for f in scored.json()["inputs"]["findings"]] == [inspection]
    parts = {p["factor"]: p["points"] for p in scored.json()["breakdown"]}
    assert parts["findings"] == "10"

    # 一公开: nothing public before the day, both results from it on; the signatory never.
    public = f"/api/v1/inspection-campaigns/{campaign_id}/results"
    assert (await client.get(public)).json()["total"] == 0
    with clock.use_clock(clock.FixedClock(clock.now() + timedelta(days=days * 2 + 14))):
        shown = await client.get(public)
        page = await client.get(f"/inspections/{campaign_id}/results")
    assert shown.status_code == 200
    items = {i["site_name"]: i for i in shown.json()["items"]}
    assert len(items) == 2
    # Named as the campaign published them (portal/privacy.py: an individual masked).
    published = (await client.get(f"/api/v1/inspection-campaigns/{campaign_id}")).json()
    assert set(items) == {c["name"] for c in published["candidates"]}
    assert all(i["outcome"] == "failed" for i in items.values())
    assert "张经理" not in shown.text
    assert "张经理" not in page.text
    assert "封印破损" in page.text


async def test_bad_input_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient,
    database: Database,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    sites: Sites,
) -> None:
    bureau, _, weicheng = sites
    campaign_id = await _drawn(client, bureau, weicheng)
    listed = await client.get(
        "/api/v1/enforcement/inspections", params={"campaign": campaign_id}, headers=bureau
    )
    inspection = next(i["id"] for i in listed.json()["items"] if i["site_id"] == weicheng)
    instruments = (
        await client.get(f"/api/v1/enforcement/inspections/{inspection}", headers=bureau)
    ).json()["instruments"]
    put = f"/api/v1/enforcement/inspections/{inspection}/result"
    keyed = {**bureau, "Idempotency-Key": str(uuid.uuid4())}

    assert_problem(
        await client.put(put, json=inspection_result(instruments), headers=bureau),
        422,
        "validation_error",
    )
    assert_problem(
        await client.put(
            put, json=inspection_result(instruments), headers={**bureau, "Idempotency-Key": "x"}
        ),
        422,
        "validation_error",
    )
    assert_problem(
        await client.put(put, json=inspection_result([]), headers=keyed), 422, "checks_incomplete"
    )
    twice = inspection_result(instruments + instruments)
    assert_problem(await client.put(put, json=twice, headers=keyed), 422, "checks_incomplete")
    stranger = inspection_result([{"registration_id": str(uuid.uuid4())}])
    assert_problem(await client.put(put, json=stranger, headers=keyed), 422, "checks_incomplete")
    assert_problem(
        await client.put(put, json=inspection_result(instruments, signatory=" "), headers=keyed),
        422,
        "signatory_missing",
    )
    for field, value in [
        ("note", "长" * 1001),
        ("signatory", "长" * 51),
        ("photos", [str(uuid.uuid4()) for _ in range(21)]),
        ("acknowledgement", "maybe"),
        ("follow_up", "ignore"),
    ]:
        assert_problem(
            await client.put(
                put, json=inspection_result(instruments, **{field: value}), headers=keyed
            ),
            422,
            "validation_error",
        )
    too_many = inspection_result(instruments * (MAX_CHECKS // len(instruments) + 1))
    assert len(too_many["checks"]) > MAX_CHECKS
    assert_problem(await client.put(put, json=too_many, headers=keyed), 422, "validation_error")
    long_scan = inspection_result(instruments)
    long_scan["checks"][0]["scanned"] = "x" * 2001
    assert_problem(await client.put(put, json=long_scan, headers=keyed), 422, "validation_error")
    # Someone else's photo, or none at all, is not evidence of this inspection.
    assert_problem(
        await client.put(
            put, json=inspection_result(instruments, photos=[str(uuid.uuid4())]), headers=keyed
        ),
        422,
        "photo_not_found",
    )
    assert_problem(
        await client.get(f"/api/v1/enforcement/inspections/{uuid.uuid4()}", headers=bureau),
        404,
        "inspection_not_found",
    )
    assert_problem(
        await client.get(f"/api/v1/inspection-campaigns/{uuid.uuid4()}/results"),
        404,
        "campaign_not_found",
    )
    assert_problem(
        await client.put(
            "/api/v1/enforcement/inspectors/ZF_001",
            json={"user_id": str(uuid.uuid4())},
            headers=bureau,
        ),
        422,
        "validation_error",
    )
    assert_problem(
        await client.put(
            "/api/v1/enforcement/inspectors/ZF-001",
            json={"user_id": str(uuid.uuid4())},
            headers=bureau,
        ),
        404,
        "account_not_found",
    )
    xian_user = await make_user(Role.regulator, region="610102")
    assert_problem(
        await client.put(
            "/api/v1/enforcement/inspectors/ZF-001",
            json={"user_id": str(xian_user.id)},
            headers=bureau,
        ),
        403,
        "region_forbidden",
    )
    async with database.transaction() as session:
        found = await session.get(Inspection, uuid.UUID(inspection))
        assert found is not None
        assert str(found.status) == "assigned"
        assert found.idempotency_key is None


async def test_two_phones_submitting_at_once_record_oneinspection_result(
    client: httpx.AsyncClient, database: Database, sites: Sites
) -> None:
    bureau, qindu, weicheng = sites
    campaign_id = await _drawn(client, bureau, weicheng)
    listed = await client.get(
        "/api/v1/enforcement/inspections", params={"campaign": campaign_id}, headers=bureau
    )
    ids = {i["site_id"]: i["id"] for i in listed.json()["items"]}

    async def body_of(inspection: str) -> dict[str, Any]:
        form = await client.get(f"/api/v1/enforcement/inspections/{inspection}", headers=bureau)
        return inspection_result(form.json()["instruments"])

    # The same submission sent twice at once (a retry racing the first): one record, one answer.
    put = f"/api/v1/enforcement/inspections/{ids[weicheng]}/result"
    body = await body_of(ids[weicheng])
    key = str(uuid.uuid4())
    same = await asyncio.gather(
        *(client.put(put, json=body, headers={**bureau, "Idempotency-Key": key}) for _ in range(2))
    )
    assert [r.status_code for r in same] == [200, 200], [r.text for r in same]
    assert same[0].json()["inspected_at"] == same[1].json()["inspected_at"]
    # Two different submissions at once (two phones): one stands, the other is told.
    put = f"/api/v1/enforcement/inspections/{ids[qindu]}/result"
    body = await body_of(ids[qindu])
    keys = [str(uuid.uuid4()) for _ in range(2)]
    raced = await asyncio.gather(
        *(client.put(put, json=body, headers={**bureau, "Idempotency-Key": k}) for k in keys)
    )
    assert sorted(r.status_code for r in raced) == [200, 409], [r.text for r in raced]
    winner = keys[[r.status_code for r in raced].index(200)]
    async with database.transaction() as session:
        found = await session.get(Inspection, uuid.UUID(ids[qindu]))
        assert found is not None
        assert str(found.idempotency_key) == winner


async def _weicheng_inspection(
    client: httpx.AsyncClient, bureau: dict[str, str], weicheng: str
) -> str:
    campaign_id = await _drawn(client, bureau, weicheng)
    listed = await client.get(
        "/api/v1/enforcement/inspections", params={"campaign": campaign_id}, headers=bureau
    )
    return str(next(i["id"] for i in listed.json()["items"] if i["site_id"] == weicheng))


async def test_a_scanned_sticker_is_looked_up_in_the_registry(
    client: httpx.AsyncClient,
    database: Database,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    sites: Sites,
) -> None:
    bureau, _, weicheng = sites
    first = await _weicheng_inspection(client, bureau, weicheng)
    async with database.sessionmaker() as session:
        org = await session.get(Organization, uuid.UUID(weicheng))
    assert org is not None
    form = await client.get(f"/api/v1/enforcement/inspections/{first}", headers=bureau)
    scale = form.json()["instruments"][0]
    assert scale["state"] == "none"  # registered, never verified
    # The bureau confirms the registration, it is entered in the registry when due, and the
    # institution verifies it: the registry links the scale to its certificate.
    confirmed = await client.post(
        f"/api/v1/instruments/{scale['registration_id']}/confirm", headers=bureau
    )
    assert confirmed.status_code == 200, confirmed.text
    async with database.transaction() as session:
        await enter_due_registrations(session, today=clock.today())
    institution = await auth_headers(await make_user(Role.institution, region="610400"))
    issued = await client.post(
        "/api/v1/certificates",
        json=cert_body(
            owner_name=org.name,
            owner_uscc=org.uscc,
            region_code="610404",
            serial=scale["serial"],
            category_code=scale["category_code"],
            manufacturer="上海友声衡器有限公司",
        ),
        headers=institution,
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["instrument"]["sticker_token"]
    form = await client.get(f"/api/v1/enforcement/inspections/{first}", headers=bureau)
    assert form.json()["instruments"][0]["state"] == "valid"
    other = await client.post(
        "/api/v1/certificates", json=cert_body(region_code="610402"), headers=institution
    )
    assert other.status_code == 201, other.text

    def scanned(text: str) -> dict[str, Any]:
        body = inspection_result([scale])
        body["checks"][0] |= {"seal_intact": True, "scanned": text}
        return body

    # Another instrument's certificate number: a finding, though the registry says verified.
    done = await client.put(
        f"/api/v1/enforcement/inspections/{first}/result",
        json=scanned(other.json()["number"]),
        headers={**bureau, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert done.status_code == 200, done.text
    check = done.json()["checks"][0]
    assert check["scan"] == "other_instrument"
    assert check["certificate_current"] is True
    assert done.json()["outcome"] == "failed"
    assert "标志与该器具的检定证书不符" in done.json()["findings"]

    # Next year's campaign: its own sticker, as the QR code gives it (a URL), passes.
    second = await _weicheng_inspection(client, bureau, weicheng)
    passed = await client.put(
        f"/api/v1/enforcement/inspections/{second}/result",
        json=scanned(f"http://testserver/v/{token}"),
        headers={**bureau, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert passed.status_code == 200, passed.text
    assert passed.json()["checks"][0]["scan"] == "matched"
    assert passed.json()["outcome"] == "passed"
    assert passed.json()["findings"] == ""
    assert passed.json()["follow_up"] == "none"
    # Nonsense scanned: not this instrument's either.
    third = await _weicheng_inspection(client, bureau, weicheng)
    unknown = await client.put(
        f"/api/v1/enforcement/inspections/{third}/result",
        json=scanned("无此证书-0001"),
        headers={**bureau, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert unknown.json()["checks"][0]["scan"] == "unknown"
    assert unknown.json()["outcome"] == "failed"
    # A follow-up for each failed inspection (enforcement/follow_ups.py), none for the passed one.
    follow_ups = await client.get(
        "/api/v1/enforcement/follow-ups", params={"site": weicheng}, headers=bureau
    )
    assert {f["inspection_id"] for f in follow_ups.json()["items"]} == {first, third}
