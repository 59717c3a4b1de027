"""Attacks on the field inspections (issue 17), each found by a test that failed before its fix:
an Idempotency-Key replayed on another inspection, a badge claimed by another region's bureau,
and a photo the inspection holds as evidence taken into a citizen's complaint."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from api.complaints.models import Media
from enforcement.models import Inspection
from portal.accounts.models import Role, User
from portal.db import Database
from tests.api.complaints.images import jpeg
from tests.api.complaints.support import report_body
from tests.enforcement.support import Sites, drawn_inspections, inspection_result
from tests.support import assert_problem

Headers = Callable[[User], Awaitable[dict[str, str]]]


async def _body(
    client: httpx.AsyncClient, headers: dict[str, str], inspection: str, **changes: Any
) -> dict[str, Any]:
    form = await client.get(f"/api/v1/enforcement/inspections/{inspection}", headers=headers)
    assert form.status_code == 200, form.text
    return inspection_result(form.json()["instruments"], **changes)


async def test_a_key_used_on_one_inspection_is_refused_on_another(
    client: httpx.AsyncClient, database: Database, sites: Sites
) -> None:
    bureau, qindu, weicheng = sites
    ids = await drawn_inspections(client, bureau, weicheng)
    key = str(uuid.uuid4())
    first = await client.put(
        f"/api/v1/enforcement/inspections/{ids[weicheng]}/result",
        json=await _body(client, bureau, ids[weicheng]),
        headers={**bureau, "Idempotency-Key": key},
    )
    assert first.status_code == 200, first.text
    # The phone's stored key sent again with the next site's form: told, not a 500.
    assert_problem(
        await client.put(
            f"/api/v1/enforcement/inspections/{ids[qindu]}/result",
            json=await _body(client, bureau, ids[qindu]),
            headers={**bureau, "Idempotency-Key": key},
        ),
        409,
        "idempotency_key_reused",
    )
    async with database.transaction() as session:
        other = await session.get(Inspection, uuid.UUID(ids[qindu]))
        assert other is not None
        assert str(other.status) == "assigned"
    # With a fresh key it records.
    again = await client.put(
        f"/api/v1/enforcement/inspections/{ids[qindu]}/result",
        json=await _body(client, bureau, ids[qindu]),
        headers={**bureau, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert again.status_code == 200, again.text


async def test_a_badge_claimed_by_another_regions_bureau_opens_nothing(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    sites: Sites,
) -> None:
    bureau, _, weicheng = sites
    ids = await drawn_inspections(client, bureau, weicheng)
    # 西安市's bureau ties 咸阳's inspector's badge (untied so far) to one of its own accounts.
    xian_bureau = await auth_headers(await make_user(Role.regulator, region="610100"))
    xian = await make_user(Role.regulator, region="610102")
    tied = await client.put(
        "/api/v1/enforcement/inspectors/ZF-001", json={"user_id": str(xian.id)}, headers=xian_bureau
    )
    assert tied.status_code == 200, tied.text
    impostor = await auth_headers(xian)
    assert (await client.get("/api/v1/enforcement/inspections?mine=1", headers=impostor)).json()[
        "total"
    ] == 0
    assert_problem(
        await client.get(f"/api/v1/enforcement/inspections/{ids[weicheng]}", headers=impostor),
        403,
        "region_forbidden",
    )
    assert_problem(
        await client.put(
            f"/api/v1/enforcement/inspections/{ids[weicheng]}/result",
            json=await _body(client, bureau, ids[weicheng]),
            headers={**impostor, "Idempotency-Key": str(uuid.uuid4())},
        ),
        403,
        "region_forbidden",
    )
    page = await client.get(f"/backoffice/inspections/{ids[weicheng]}", headers=impostor)
    assert page.status_code == 403


async def test_a_held_photo_cannot_be_taken_into_a_complaint(
    client: httpx.AsyncClient,
    database: Database,
    sites: Sites,
) -> None:
    bureau, _, weicheng = sites
    ids = await drawn_inspections(client, bureau, weicheng)
    photo = await client.post(
        "/api/v1/media", files={"file": ("p.jpg", jpeg(), "image/jpeg")}, headers=bureau
    )
    assert photo.status_code == 201, photo.text
    photo_id = photo.json()["id"]
    done = await client.put(
        f"/api/v1/enforcement/inspections/{ids[weicheng]}/result",
        json=await _body(client, bureau, ids[weicheng], photos=[photo_id]),
        headers={**bureau, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert done.status_code == 200, done.text
    stolen = await client.post("/api/v1/cases", json=report_body(media=[photo_id]))
    assert_problem(stolen, 422, "media_unavailable")
    async with database.transaction() as session:
        media = await session.get(Media, uuid.UUID(photo_id))
        assert media is not None
        assert media.case_id is None
        assert media.held_by == f"enforcement_inspection:{ids[weicheng]}"


async def test_a_badge_differing_only_in_case_lists_nothing_of_the_other(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    sites: Sites,
) -> None:
    bureau, _, weicheng = sites
    await drawn_inspections(client, bureau, weicheng)
    # A careless bureau types the badge in lower case for another account: a different badge.
    other = await make_user(Role.regulator, region="610402")
    tied = await client.put(
        "/api/v1/enforcement/inspectors/zf-001", json={"user_id": str(other.id)}, headers=bureau
    )
    assert tied.status_code == 200, tied.text
    mine = await client.get(
        "/api/v1/enforcement/inspections?mine=1", headers=await auth_headers(other)
    )
    assert mine.json()["total"] == 0
    assert mine.json()["items"] == []


async def test_a_photo_listed_twice_is_refused(
    client: httpx.AsyncClient, database: Database, sites: Sites
) -> None:
    bureau, _, weicheng = sites
    ids = await drawn_inspections(client, bureau, weicheng)
    photo = await client.post(
        "/api/v1/media", files={"file": ("p.jpg", jpeg(), "image/jpeg")}, headers=bureau
    )
    photo_id = photo.json()["id"]
    assert_problem(
        await client.put(
            f"/api/v1/enforcement/inspections/{ids[weicheng]}/result",
            json=await _body(client, bureau, ids[weicheng], photos=[photo_id, photo_id]),
            headers={**bureau, "Idempotency-Key": str(uuid.uuid4())},
        ),
        422,
        "photo_not_found",
    )
    async with database.transaction() as session:
        media = await session.get(Media, uuid.UUID(photo_id))
        assert media is not None
        assert media.held_by is None


async def test_one_photo_sent_with_two_inspections_at_once_is_held_by_one(
    client: httpx.AsyncClient, database: Database, sites: Sites
) -> None:
    bureau, qindu, weicheng = sites
    ids = await drawn_inspections(client, bureau, weicheng)
    photo = await client.post(
        "/api/v1/media", files={"file": ("p.jpg", jpeg(), "image/jpeg")}, headers=bureau
    )
    photo_id = photo.json()["id"]
    bodies = {s: await _body(client, bureau, ids[s], photos=[photo_id]) for s in (qindu, weicheng)}
    raced = await asyncio.gather(
        *(
            client.put(
                f"/api/v1/enforcement/inspections/{ids[s]}/result",
                json=bodies[s],
                headers={**bureau, "Idempotency-Key": str(uuid.uuid4())},
            )
            for s in (qindu, weicheng)
        )
    )
    assert sorted(r.status_code for r in raced) == [200, 422], [r.text for r in raced]
    winner = raced[[r.status_code for r in raced].index(200)].json()["id"]
    async with database.transaction() as session:
        media = await session.get(Media, uuid.UUID(photo_id))
        assert media is not None
        assert media.held_by == f"enforcement_inspection:{winner}"


async def test_the_sites_own_district_office_cannot_become_its_drawn_inspector(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    sites: Sites,
) -> None:
    bureau, _, weicheng = sites
    ids = await drawn_inspections(client, bureau, weicheng)
    # 渭城区's office, kept away from 渭城区's sites by the draw, ties the badge of 王芳 (drawn
    # for its site; the pool puts her in 杨陵区) to one of its own accounts.
    office = await auth_headers(await make_user(Role.regulator, region="610404"))
    own = await make_user(Role.regulator, region="610404")
    tied = await client.put(
        "/api/v1/enforcement/inspectors/ZF-003", json={"user_id": str(own.id)}, headers=office
    )
    assert tied.status_code == 200, tied.text
    impostor = await auth_headers(own)
    assert (await client.get("/api/v1/enforcement/inspections?mine=1", headers=impostor)).json()[
        "total"
    ] == 0
    assert_problem(
        await client.get(f"/api/v1/enforcement/inspections/{ids[weicheng]}", headers=impostor),
        403,
        "region_forbidden",
    )


async def test_one_photo_sent_with_a_report_and_an_inspection_at_once_goes_to_one(
    client: httpx.AsyncClient, database: Database, sites: Sites
) -> None:
    """The complaint intake attaches with a conditional update too: a report and an inspection
    naming one photo at the same moment cannot both have it."""
    bureau, _, weicheng = sites
    ids = await drawn_inspections(client, bureau, weicheng)
    photo = await client.post(
        "/api/v1/media", files={"file": ("p.jpg", jpeg(), "image/jpeg")}, headers=bureau
    )
    photo_id = photo.json()["id"]
    body = await _body(client, bureau, ids[weicheng], photos=[photo_id])
    report, inspection = await asyncio.gather(
        client.post("/api/v1/cases", json=report_body(media=[photo_id]), headers=bureau),
        client.put(
            f"/api/v1/enforcement/inspections/{ids[weicheng]}/result",
            json=body,
            headers={**bureau, "Idempotency-Key": str(uuid.uuid4())},
        ),
    )
    assert sorted([report.status_code, inspection.status_code]) in ([200, 422], [201, 422]), (
        report.text,
        inspection.text,
    )
    async with database.transaction() as session:
        media = await session.get(Media, uuid.UUID(photo_id))
        assert media is not None
        # Exactly one owner: the case or the inspection, never both, never the loser.
        assert (media.case_id is None) != (media.held_by is None)
        if report.status_code == 201:
            assert media.case_id is not None
        else:
            assert media.held_by == f"enforcement_inspection:{ids[weicheng]}"


async def test_a_badge_tied_twice_at_once_answers_as_one_after_the_other(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    sites: Sites,
) -> None:
    """Tying is idempotent (the same badge to the same account again: the same answer) and a
    badge or account tied already is badge_taken; sent at once (a double click, two clerks),
    the second was the bare "conflict" of the unique column."""
    bureau, _, _ = sites
    url = "/api/v1/enforcement/inspectors/"
    one = await make_user(Role.regulator, region="610402")
    same = await asyncio.gather(
        *(client.put(url + "ZF-90", json={"user_id": str(one.id)}, headers=bureau) for _ in "ab")
    )
    assert [r.status_code for r in same] == [200, 200], [r.text for r in same]
    assert same[0].json() == same[1].json()
    two = await make_user(Role.regulator, region="610402")
    three = await make_user(Role.regulator, region="610402")
    raced = await asyncio.gather(
        *(
            client.put(url + "ZF-91", json={"user_id": str(u.id)}, headers=bureau)
            for u in (two, three)
        )
    )
    assert sorted(r.status_code for r in raced) == [200, 409], [r.text for r in raced]
    assert_problem(next(r for r in raced if r.status_code == 409), 409, "badge_taken")
    four = await make_user(Role.regulator, region="610402")
    raced = await asyncio.gather(
        *(
            client.put(url + b, json={"user_id": str(four.id)}, headers=bureau)
            for b in ("ZF-92", "ZF-93")
        )
    )
    assert sorted(r.status_code for r in raced) == [200, 409], [r.text for r in raced]
    assert_problem(next(r for r in raced if r.status_code == 409), 409, "badge_taken")


async def test_one_key_sent_with_two_inspections_at_once_is_told_as_reused(
    client: httpx.AsyncClient, database: Database, sites: Sites
) -> None:
    """The phone's stored key sent with two sites' forms at once: both read the key as free, the
    second's write met the unique key and answered the bare 409 ``conflict`` (attack review);
    it is the mistake the check before it names, and is told as such."""
    bureau, qindu, weicheng = sites
    ids = await drawn_inspections(client, bureau, weicheng)
    key = str(uuid.uuid4())
    bodies = {s: await _body(client, bureau, ids[s]) for s in (qindu, weicheng)}
    raced = await asyncio.gather(
        *(
            client.put(
                f"/api/v1/enforcement/inspections/{ids[s]}/result",
                json=bodies[s],
                headers={**bureau, "Idempotency-Key": key},
            )
            for s in (qindu, weicheng)
        )
    )
    assert sorted(r.status_code for r in raced) == [200, 409], [r.text for r in raced]
    refused = raced[[r.status_code for r in raced].index(409)]
    assert_problem(refused, 409, "idempotency_key_reused")
    async with database.transaction() as session:
        recorded = [await session.get(Inspection, uuid.UUID(ids[s])) for s in (qindu, weicheng)]
    assert sorted(str(i.status) for i in recorded if i is not None) == ["assigned", "done"]
