"""Ambiguous certificate matches are held for the bureau of the instrument's region: a certificate
naming another owner than the registered one, or an instrument two owners registered, is stored
but not attached until the bureau decides, and each decision is an instrument event."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from api.certificates.models import Certificate, Instrument, InstrumentEvent
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.db import Database
from tests.api.certificates.support import cert_body
from tests.api.instruments.support import current_copies, registration_body
from tests.support import assert_problem, new_owner_uscc

MakeUser = Callable[..., Awaitable[User]]
Headers = Callable[[User], Awaitable[dict[str, str]]]


async def _owner(
    make_org: Callable[..., Awaitable[Any]], make_user: MakeUser, name: str
) -> tuple[Organization, User]:
    org = await make_org(
        kind=OrganizationKind.owner, region="610402", name=name, uscc=new_owner_uscc("610402")
    )
    return org, await make_user(Role.owner, region="610402", org=org)


async def _register(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/instruments", json=registration_body(**body), headers=headers
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def _key(registered: dict[str, Any]) -> dict[str, Any]:
    """What a certificate matches a registration by: category + serial + manufacturer."""
    return {k: registered[k] for k in ("serial", "category_code", "manufacturer")}


async def _variants(database: Database, serial: str) -> list[int]:
    """The registry's instances of one serial (a split adds one)."""
    async with database.sessionmaker() as session:
        found = await session.scalars(select(Instrument.variant).where(Instrument.serial == serial))
        return sorted(found.all())


async def test_a_certificate_for_another_owner_is_held_and_the_bureau_attaches_it(
    client: httpx.AsyncClient,
    database: Database,
    make_org: Callable[..., Awaitable[Any]],
    make_user: MakeUser,
    auth_headers: Headers,
    institution_user: User,
) -> None:
    owner_a, user_a = await _owner(make_org, make_user, "咸阳市秦都区甲农贸市场有限公司")
    registered = await _register(client, await auth_headers(user_a))
    institution = await auth_headers(institution_user)
    key = _key(registered)
    # The registered owner named: attached at once.
    plain = await client.post(
        "/api/v1/certificates",
        json=cert_body(owner_name=owner_a.name, owner_uscc=owner_a.uscc, **key),
        headers=institution,
    )
    assert plain.status_code == 201, plain.text
    token = plain.json()["instrument"]["sticker_token"]

    # Another owner named: stored, held, not attached.
    body = cert_body(
        owner_name="咸阳市某某超市有限公司", owner_uscc=new_owner_uscc("610402"), **key
    )
    held = await client.post("/api/v1/certificates", json=body, headers=institution)
    assert held.status_code == 202, held.text
    assert held.json()["held"] is True
    assert held.json()["reason"] == "other_owner"
    review_id = held.json()["review_id"]
    assert (await client.get(f"/api/v1/certificates/{body['number']}")).status_code == 404
    # The same request again is recognised, not held twice.
    again = await client.post("/api/v1/certificates", json=body, headers=institution)
    assert again.status_code == 200
    assert again.json()["review_id"] == review_id

    # The institution sees its held certificate, without other owners' data.
    own = (await client.get("/api/v1/certificate-reviews", headers=institution)).json()
    assert [r["id"] for r in own["items"]] == [review_id]
    assert own["items"][0]["candidates"] == []

    # A regulator of another region neither sees nor resolves it.
    xian = await auth_headers(await make_user(Role.regulator, region="610102"))
    assert (await client.get("/api/v1/certificate-reviews", headers=xian)).json()["items"] == []
    assert_problem(
        await client.post(
            f"/api/v1/certificate-reviews/{review_id}/resolve",
            json={"action": "new_instrument"},
            headers=xian,
        ),
        404,
        "certificate_review_not_found",
    )
    # Nor does the institution or the owner.
    assert_problem(
        await client.post(
            f"/api/v1/certificate-reviews/{review_id}/resolve",
            json={"action": "new_instrument"},
            headers=institution,
        ),
        403,
    )

    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    item = (await client.get(f"/api/v1/certificate-reviews/{review_id}", headers=bureau)).json()
    assert item["reason_name"]
    assert len(item["candidates"]) == 1
    candidate = item["candidates"][0]
    assert candidate["kind"] == "instrument"
    assert candidate["owner_uscc"] == owner_a.uscc
    assert candidate["same_owner"] is False
    # A candidate the item does not list is refused.
    assert_problem(
        await client.post(
            f"/api/v1/certificate-reviews/{review_id}/resolve",
            json={"action": "attach", "candidate_id": registered["id"]},
            headers=bureau,
        ),
        422,
        "certificate_review_invalid",
    )
    resolved = await client.post(
        f"/api/v1/certificate-reviews/{review_id}/resolve",
        json={"action": "attach", "candidate_id": candidate["id"], "note": "证书使用单位笔误"},
        headers=bureau,
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "attached"
    assert_problem(
        await client.post(
            f"/api/v1/certificate-reviews/{review_id}/resolve",
            json={"action": "new_instrument"},
            headers=bureau,
        ),
        409,
        "certificate_review_resolved",
    )
    # Attached to A's instrument, whose owner did not move.
    lookup = (await client.get(f"/api/v1/certificates/{body['number']}")).json()
    assert lookup["instrument"]["sticker_token"] == token
    assert lookup["instrument"]["owner_name"] == owner_a.name
    async with database.sessionmaker() as session:
        events = (await session.scalars(select(InstrumentEvent))).all()
    assert [e.kind for e in events if e.data.get("review_id") == review_id] == [
        "certificate_attached"
    ]
    await current_copies(database)  # the registration's copy follows the attached certificate


async def test_two_owners_of_one_serial_are_held_and_split_into_a_new_instrument(
    client: httpx.AsyncClient,
    database: Database,
    make_org: Callable[..., Awaitable[Any]],
    make_user: MakeUser,
    auth_headers: Headers,
    institution_user: User,
) -> None:
    owner_a, user_a = await _owner(make_org, make_user, "咸阳市秦都区乙农贸市场有限公司")
    owner_b, user_b = await _owner(make_org, make_user, "咸阳市秦都区丙加油站有限公司")
    first = await _register(client, await auth_headers(user_a))
    await _register(client, await auth_headers(user_b), serial=first["serial"])
    institution = await auth_headers(institution_user)
    key = _key(first)
    body = cert_body(owner_name=owner_b.name, owner_uscc=owner_b.uscc, **key)
    held = await client.post("/api/v1/certificates", json=body, headers=institution)
    assert held.status_code == 202, held.text
    assert held.json()["reason"] == "several_candidates"
    # The file import holds the same way and says so.
    line = ",".join(
        [
            "HELD-IMPORT-1", "scale-pc", "ACS-15", first["serial"], first["manufacturer"],
            owner_a.name, owner_a.uscc or "", "人民路", "610402", "合格",
            body["verified_on"], body["valid_until"], "陈工",
        ]
    )  # fmt: skip
    header = "number,category_code,model,serial,manufacturer,owner_name,owner_uscc,address,region_code,conclusion,verified_on,valid_until,verifier"
    report = await client.post(
        "/api/v1/certificates/import",
        files={"file": ("held.csv", f"{header}\n{line}\n".encode())},
        headers=institution,
    )
    assert report.status_code == 200, report.text
    assert (report.json()["held"], report.json()["created"]) == (1, 0), report.json()

    bureau = await auth_headers(await make_user(Role.regulator, region="610400"))
    queue = (await client.get("/api/v1/certificate-reviews", headers=bureau)).json()
    mine = [r for r in queue["items"] if r["serial"] == first["serial"]]
    assert len(mine) == 2
    review = next(r for r in mine if r["number"] == body["number"])
    assert {c["owner_uscc"] for c in review["candidates"]} == {owner_a.uscc, owner_b.uscc}
    resolved = await client.post(
        f"/api/v1/certificate-reviews/{review['id']}/resolve",
        json={"action": "new_instrument", "note": "两台同号器具"},
        headers=bureau,
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "new_instrument"
    lookup = (await client.get(f"/api/v1/certificates/{body['number']}")).json()
    assert lookup["instrument"]["owner_name"] == owner_b.name
    assert await _variants(database, first["serial"]) == [0]
    async with database.sessionmaker() as session:
        events = (await session.scalars(select(InstrumentEvent))).all()
    assert "instrument_split" in [e.kind for e in events if e.data.get("number") == body["number"]]
    # The other one, attached to B's registration: the registry gets a second instance of the key.
    other = next(r for r in mine if r["number"] == "HELD-IMPORT-1")
    candidate = next(c for c in other["candidates"] if c["owner_uscc"] == owner_a.uscc)
    attached = await client.post(
        f"/api/v1/certificate-reviews/{other['id']}/resolve",
        json={"action": "attach", "candidate_id": candidate["id"]},
        headers=bureau,
    )
    assert attached.status_code == 200, attached.text
    assert await _variants(database, first["serial"]) == [0, 1]
    lookup = (await client.get("/api/v1/certificates/HELD-IMPORT-1")).json()
    assert lookup["instrument"]["owner_name"] == owner_a.name
    # A's registration is linked to its own instance, with an event the owner and bureau see.
    mine_now = (
        await client.get(
            f"/api/v1/instrument-registrations/{first['id']}", headers=await auth_headers(user_a)
        )
    ).json()
    assert mine_now["sticker_token"] == lookup["instrument"]["sticker_token"]
    assert mine_now["certificate_number"] == "HELD-IMPORT-1"
    assert "entered" in [e["kind"] for e in mine_now["events"]]
    # Each registration's copy of its current certificate (the statistics) followed the links.
    copies = await current_copies(database)
    assert copies[first["id"]][0] == "certificate"


async def test_a_bureau_neither_sees_nor_decides_for_another_provinces_owner(
    client: httpx.AsyncClient,
    database: Database,
    make_org: Callable[..., Awaitable[Any]],
    make_user: MakeUser,
    auth_headers: Headers,
    institution_user: User,
) -> None:
    """One serial registered by an owner in 咸阳 and by one in 北京: a certificate naming neither
    is held, and the queue puts it with the first candidate's bureau (store.common_region: no
    province covers both). That bureau may decide for its own province's instrument, but the
    other province's owner is neither shown to it (name, credit code) nor can it attach the
    certificate to that owner's registration: a regulator acts only in its region and below."""
    owner_a, user_a = await _owner(make_org, make_user, "咸阳市秦都区丁农贸市场有限公司")
    beijing = await make_org(
        kind=OrganizationKind.owner,
        region="110101",
        name="北京市东城区某某商贸有限公司",
        uscc=new_owner_uscc("110101"),
    )
    user_b = await make_user(Role.owner, region="110101", org=beijing)
    first = await _register(client, await auth_headers(user_a))
    await _register(client, await auth_headers(user_b), serial=first["serial"])
    body = cert_body(
        owner_name="咸阳市某某超市有限公司",
        owner_uscc=new_owner_uscc("610402"),
        serial=first["serial"],
        category_code=first["category_code"],
        manufacturer=first["manufacturer"],
    )
    held = await client.post(
        "/api/v1/certificates", json=body, headers=await auth_headers(institution_user)
    )
    assert held.status_code == 202, held.text
    review_id = held.json()["review_id"]
    admin = await auth_headers(await make_user(Role.admin))
    full = (await client.get(f"/api/v1/certificate-reviews/{review_id}", headers=admin)).json()
    assert {c["region_code"] for c in full["candidates"]} == {"610402", "110101"}
    home = full["region_code"]
    assert home in ("610402", "110101")
    outside = next(c for c in full["candidates"] if not c["region_code"].startswith(home[:2]))
    bureau = await auth_headers(await make_user(Role.regulator, region=home))

    seen = (await client.get(f"/api/v1/certificate-reviews/{review_id}", headers=bureau)).text
    queue = (await client.get("/api/v1/certificate-reviews", headers=bureau)).text
    for page in (seen, queue):
        assert outside["owner_name"] not in page
        assert outside["owner_uscc"] not in page

    refused = await client.post(
        f"/api/v1/certificate-reviews/{review_id}/resolve",
        json={"action": "attach", "candidate_id": outside["id"]},
        headers=bureau,
    )
    assert refused.status_code in (403, 404), refused.text
    after = (await client.get(f"/api/v1/certificate-reviews/{review_id}", headers=admin)).json()
    assert after["status"] == "open"
    # The administrator (national) decides it.
    attached = await client.post(
        f"/api/v1/certificate-reviews/{review_id}/resolve",
        json={"action": "attach", "candidate_id": outside["id"]},
        headers=admin,
    )
    assert attached.status_code == 200, attached.text


async def test_two_bureau_clicks_at_once_resolve_a_held_certificate_once(
    client: httpx.AsyncClient,
    database: Database,
    make_org: Callable[..., Awaitable[Any]],
    make_user: MakeUser,
    auth_headers: Headers,
    institution_user: User,
) -> None:
    """Three resolutions of one held certificate sent together (a double click, two officers):
    one is applied, the others are told it was already resolved (409), and one certificate and
    no duplicate instrument exist. SQLite has no SELECT ... FOR UPDATE: both read "open" and the
    second failed on the instrument's unique key with an unhandled driver error (500)."""
    _, user_a = await _owner(make_org, make_user, "咸阳市秦都区戊农贸市场有限公司")
    registered = await _register(client, await auth_headers(user_a))
    key = {k: registered[k] for k in ("serial", "category_code", "manufacturer")}
    body = cert_body(
        owner_name="咸阳市某某超市有限公司", owner_uscc=new_owner_uscc("610402"), **key
    )
    held = await client.post(
        "/api/v1/certificates", json=body, headers=await auth_headers(institution_user)
    )
    assert held.status_code == 202, held.text
    review_id = held.json()["review_id"]
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    item = (await client.get(f"/api/v1/certificate-reviews/{review_id}", headers=bureau)).json()
    url = f"/api/v1/certificate-reviews/{review_id}/resolve"
    answers = await asyncio.gather(
        client.post(url, json={"action": "new_instrument"}, headers=bureau),
        client.post(
            url,
            json={"action": "attach", "candidate_id": item["candidates"][0]["id"]},
            headers=bureau,
        ),
        client.post(url, json={"action": "new_instrument"}, headers=bureau),
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409], [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert_problem(answer, 409, "certificate_review_resolved")
    async with database.sessionmaker() as session:
        numbers = await session.scalar(
            select(func.count())
            .select_from(Certificate)
            .where(Certificate.number == body["number"])
        )
        variants = (
            await session.scalars(
                select(Instrument.variant).where(Instrument.serial == key["serial"])
            )
        ).all()
    assert numbers == 1
    assert sorted(variants) in ([0], [0, 1])


async def test_a_held_certificate_is_attached_only_within_the_institutions_scope(
    client: httpx.AsyncClient,
    database: Database,
    make_org: Callable[..., Awaitable[Any]],
    make_user: MakeUser,
    auth_headers: Headers,
    institution_user: User,
) -> None:
    """An institution authorised for 秦都区 only issues a certificate stating 秦都区 for a serial
    registered there and in 渭城区, naming neither owner: it passes the scope check (its stated
    region) and is held; the city's bureau attaching it to the 渭城区 registration put a
    certificate outside the institution's area in the registry. The scope in force is checked
    against the chosen candidate's region when the bureau decides."""
    city = await make_user(Role.regulator, region="610400")
    bureau = await auth_headers(city)
    async with database.sessionmaker() as session:
        lab = await session.get(Organization, institution_user.organization_id)
    assert lab is not None
    recorded = await client.post(
        "/api/v1/institution-authorisations",
        json={
            "institution": lab.code,
            "certificate_number": "(陕)法计(2025)61040011号",
            "issuer_name": "咸阳市市场监督管理局",
            "issuer_region_code": "610400",
            "categories": ["scale-pc"],
            "regions": ["610402"],
            "valid_from": "2025-01-01",
            "valid_until": "2035-12-31",
        },
        headers=bureau,
    )
    assert recorded.status_code == 201, recorded.text
    _, user_a = await _owner(make_org, make_user, "咸阳市秦都区己农贸市场有限公司")
    weicheng = await make_org(
        kind=OrganizationKind.owner,
        region="610404",
        name="咸阳市渭城区某某商贸有限公司",
        uscc=new_owner_uscc("610404"),
    )
    user_b = await make_user(Role.owner, region="610404", org=weicheng)
    first = await _register(client, await auth_headers(user_a))
    await _register(client, await auth_headers(user_b), serial=first["serial"])
    body = cert_body(
        owner_name="咸阳市某某超市有限公司",
        owner_uscc=new_owner_uscc("610402"),
        region_code="610402",
        **_key(first),
    )
    held = await client.post(
        "/api/v1/certificates", json=body, headers=await auth_headers(institution_user)
    )
    assert held.status_code == 202, held.text
    review_id = held.json()["review_id"]
    item = (await client.get(f"/api/v1/certificate-reviews/{review_id}", headers=bureau)).json()
    by_region = {c["region_code"]: c for c in item["candidates"]}
    assert set(by_region) == {"610402", "610404"}
    url = f"/api/v1/certificate-reviews/{review_id}/resolve"
    problem = assert_problem(
        await client.post(
            url,
            json={"action": "attach", "candidate_id": by_region["610404"]["id"]},
            headers=bureau,
        ),
        422,
        "certificate_outside_scope",
    )
    assert [e["field"] for e in problem["errors"]] == ["region_code"]
    still = (await client.get(f"/api/v1/certificate-reviews/{review_id}", headers=bureau)).json()
    assert still["status"] == "open"
    attached = await client.post(
        url,
        json={"action": "attach", "candidate_id": by_region["610402"]["id"]},
        headers=bureau,
    )
    assert attached.status_code == 200, attached.text
    assert attached.json()["status"] == "attached"
