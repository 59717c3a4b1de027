"""Each registration's copy of its registry instrument's current certificate, and the copy of the
registry's certificates per region (the regional statistics count from them,
api/instruments/current.py), stay equal to the registry through every change: the link when the
instrument is entered, a certificate attached, corrected (superseded), revoked and followed by a
newer one, an older one entered late, the registration retired or replaced, and a second
owner's registration linked to the same instrument, in the same region or another."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import httpx
import pytest

from api.instruments.current import refresh_verifications
from api.instruments.review import enter_due_registrations
from portal import clock
from portal.accounts.models import OrganizationKind, Role, User
from portal.db import Database
from tests.api.certificates.support import Issue, cert_body, days
from tests.api.instruments.support import (
    current_copies,
    owner_uscc,
    registration_body,
    verification_copies,
)
from tests.support import new_owner_uscc

Headers = Callable[[User], Awaitable[dict[str, str]]]
MAKER = "上海友声衡器有限公司"


def _day(text: str) -> date:
    return date.fromisoformat(text)


async def _copies(database: Database) -> dict[str, tuple[Any, ...]]:
    """Both copies checked against the registry: the certificates per region (the statistics'
    months), then each registration's current certificate, returned."""
    await verification_copies(database)
    return await current_copies(database)


async def test_the_copy_follows_attach_correct_revoke_retire_replace_and_relink(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    institution_user: User,
    make_org: Callable[..., Awaitable[Any]],
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    issue: Issue,
) -> None:
    owner = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    lab = await auth_headers(institution_user)
    uscc = await owner_uscc(database, owner_user)

    async def register(serial: str, headers: dict[str, str] = owner) -> str:
        response = await client.post(
            "/api/v1/instruments",
            json=registration_body(serial=serial, manufacturer=MAKER),
            headers=headers,
        )
        assert response.status_code == 201, response.text
        rid: str = response.json()["id"]
        done = await client.post(f"/api/v1/instruments/{rid}/confirm", headers=bureau)
        assert done.status_code == 200, done.text
        return rid

    # Never verified, entered in the registry when due: linked, no certificate yet.
    first = await register("CC-1")
    async with database.transaction() as session:
        await enter_due_registrations(session, today=clock.today())
    assert (await _copies(database))[first] == (None, None, None, False)

    # A certificate attaches (the registered owner named).
    named = {"owner_uscc": uscc, "owner_name": "咸阳市秦都区人民路农贸市场有限公司"}
    await issue(number="CC-1-A", serial="CC-1", manufacturer=MAKER, **named)
    assert (await _copies(database))[first] == (
        "certificate",
        _day(days(-10)),
        _day(days(355)),
        False,
    )

    # Corrected: the new certificate supersedes it.
    corrected = await client.post(
        "/api/v1/certificates/CC-1-A/correct",
        json={
            "reason": "有效期录入错误",
            "certificate": cert_body(
                number="CC-1-B",
                serial="CC-1",
                manufacturer=MAKER,
                valid_until=days(20),
                **named,
            ),
        },
        headers=lab,
    )
    assert corrected.status_code == 201, corrected.text
    assert (await _copies(database))[first] == (
        "certificate",
        _day(days(-10)),
        _day(days(20)),
        False,
    )

    # Revoked: still the current certificate, now revoked; the registration counts as 不合格.
    revoked = await client.post(
        "/api/v1/certificates/CC-1-B/revoke", json={"reason": "数据录入错误"}, headers=lab
    )
    assert revoked.status_code == 200, revoked.text
    assert (await _copies(database))[first][3] is True
    stats = (await client.get("/api/v1/instrument-statistics", headers=bureau)).json()
    assert {s["code"]: s["count"] for s in stats["by_status_detail"]}["revoked"] == 1

    # A newer verification replaces the revoked one; a failure notice after it, too.
    await issue(number="CC-1-C", serial="CC-1", manufacturer=MAKER, verified_on=days(-2), **named)
    assert (await _copies(database))[first] == (
        "certificate",
        _day(days(-2)),
        _day(days(355)),
        False,
    )
    await issue(
        number="CC-1-D",
        serial="CC-1",
        manufacturer=MAKER,
        verified_on=days(-1),
        valid_until=None,
        conclusion="不合格",
        kind="notice",
        **named,
    )
    assert (await _copies(database))[first] == ("notice", _day(days(-1)), None, False)

    # An older certificate entered late does not displace the current one.
    await issue(
        number="CC-1-E",
        serial="CC-1",
        manufacturer=MAKER,
        verified_on=days(-300),
        valid_until=days(60),
        **named,
    )
    assert (await _copies(database))[first][0] == "notice"

    # Replaced by an instrument the registry already has certified: the new registration is
    # linked at once and carries its certificate; the old one keeps its copy, counted 已注销.
    await issue(number="CC-2-A", serial="CC-2", manufacturer=MAKER, valid_until=days(100), **named)
    replaced = await client.post(
        f"/api/v1/instruments/{first}/events",
        json={
            "kind": "replaced",
            "reason": "秤损坏",
            "replacement": registration_body(serial="CC-2", manufacturer=MAKER),
        },
        headers=owner,
    )
    assert replaced.status_code == 200, replaced.text
    successor = replaced.json()["events"][-1]["data"]["replacement_id"]
    copies = await _copies(database)
    assert copies[successor] == ("certificate", _day(days(-10)), _day(days(100)), False)
    assert copies[first][0] == "notice"

    # The old instrument sold on: its new owner registers it, linked to the same registry
    # instrument; the next certificate (naming the new owner) reaches that registration, and
    # the retired one's copy follows too (both link to the instrument).
    buyer_org = await make_org(
        kind=OrganizationKind.owner,
        region="610402",
        name="咸阳市秦都区某某超市有限公司",
        uscc=new_owner_uscc("610402"),
    )
    buyer = await auth_headers(await make_user(Role.owner, region="610402", org=buyer_org))
    await register("CC-1", headers=buyer)
    async with database.transaction() as session:
        await enter_due_registrations(session, today=clock.today())
    # Two owners have named the instrument: the certificate is held, and the bureau attaches it
    # (the review queue's path).
    held = await client.post(
        "/api/v1/certificates",
        json=cert_body(
            number="CC-1-F",
            serial="CC-1",
            manufacturer=MAKER,
            verified_on=days(0),
            valid_until=days(365),
            owner_uscc=buyer_org.uscc,
            owner_name=buyer_org.name,
        ),
        headers=lab,
    )
    assert held.status_code == 202, held.text
    review_id = held.json()["review_id"]
    item = (await client.get(f"/api/v1/certificate-reviews/{review_id}", headers=bureau)).json()
    candidate = next(c for c in item["candidates"] if c["kind"] == "instrument")
    resolved = await client.post(
        f"/api/v1/certificate-reviews/{review_id}/resolve",
        json={"action": "attach", "candidate_id": candidate["id"]},
        headers=bureau,
    )
    assert resolved.status_code == 200, resolved.text
    async with database.sessionmaker() as session:
        from sqlalchemy import select

        from api.instruments.models import RegisteredInstrument

        rows = (
            await session.scalars(
                select(RegisteredInstrument).where(RegisteredInstrument.serial == "CC-1")
            )
        ).all()
    assert len(rows) == 2
    assert {r.status.value for r in rows} == {"retired", "confirmed"}
    for r in rows:
        assert (r.current_kind, r.current_valid_until, r.current_revoked) == (
            "certificate",
            _day(days(365)),
            False,
        )
    await _copies(database)  # every registration equals the registry

    # Retired: the copy stays right, and the registration counts as 已注销 whatever it holds.
    retired = await client.post(
        f"/api/v1/instruments/{rows[0].id if rows[0].status.value == 'confirmed' else rows[1].id}"
        "/events",
        json={"kind": "retired"},
        headers=buyer,
    )
    assert retired.status_code == 200, retired.text
    await _copies(database)
    stats = (await client.get("/api/v1/instrument-statistics", headers=bureau)).json()
    detail = {s["code"]: s["count"] for s in stats["by_status_detail"]}
    assert detail["retired"] == 2
    assert detail["valid"] == 1  # CC-2


async def test_an_imported_registration_of_a_certified_instrument_carries_its_certificate(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    auth_headers: Headers,
    issue: Issue,
) -> None:
    from tests.api.instruments.test_registration import CSV_HEADER

    await issue(number="CC-IMP-1", serial="IMP-1", manufacturer=MAKER, valid_until=days(40))
    owner = await auth_headers(owner_user)
    data = (
        CSV_HEADER + f"电子计价秤,ACS-15,IMP-1,{MAKER},1 号摊位,贸易结算,,2026-01-05,\n"
    ).encode("gb18030")
    response = await client.post(
        "/api/v1/instruments/import", files={"file": ("登记.csv", data)}, headers=owner
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    copies = await _copies(database)
    assert list(copies.values()) == [("certificate", _day(days(-10)), _day(days(40)), False)]


async def test_a_certificate_counts_once_in_every_region_its_instrument_is_registered_in(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    make_org: Callable[..., Awaitable[Any]],
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    issue: Issue,
) -> None:
    owner = await auth_headers(owner_user)
    uscc = await owner_uscc(database, owner_user)
    named = {"owner_uscc": uscc, "owner_name": "咸阳市秦都区人民路农贸市场有限公司"}

    async def verified(region: str) -> int:
        headers = await auth_headers(await make_user(Role.regulator, region=region))
        response = await client.get("/api/v1/instrument-statistics", headers=headers)
        assert response.status_code == 200, response.text
        return sum(m["verified"] for m in response.json()["months"])

    # Certified, then registered by its owner in 秦都区 and linked.
    await issue(number="MR-A", serial="MR-1", manufacturer=MAKER, verified_on=days(-10), **named)
    created = await client.post(
        "/api/v1/instruments",
        json=registration_body(serial="MR-1", manufacturer=MAKER),
        headers=owner,
    )
    assert created.status_code == 201, created.text
    first = created.json()["id"]
    async with database.transaction() as session:
        await enter_due_registrations(session, today=clock.today())
    assert len(await verification_copies(database)) == 1

    # An older certificate entered late: not the current one, still a verification of the year.
    await issue(
        number="MR-B",
        serial="MR-1",
        manufacturer=MAKER,
        verified_on=days(-40),
        valid_until=days(200),
        **named,
    )
    assert len(await verification_copies(database)) == 2

    # Retired by its owner and sold to an owner in 杨陵区, who registers it: the instrument is
    # now registered in two regions of the city.
    gone = await client.post(
        f"/api/v1/instruments/{first}/events", json={"kind": "retired"}, headers=owner
    )
    assert gone.status_code == 200, gone.text
    buyer_org = await make_org(
        kind=OrganizationKind.owner,
        region="610403",
        name="杨凌示范区某某超市有限公司",
        uscc=new_owner_uscc("610403"),
    )
    buyer = await auth_headers(await make_user(Role.owner, region="610403", org=buyer_org))
    again = await client.post(
        "/api/v1/instruments",
        json=registration_body(serial="MR-1", manufacturer=MAKER),
        headers=buyer,
    )
    assert again.status_code == 201, again.text
    async with database.transaction() as session:
        await enter_due_registrations(session, today=clock.today())
    copies = await verification_copies(database)  # every region's months equal the join's
    assert len(copies) == 4  # two certificates in two regions
    assert {(c[1], c[5]) for c in copies} == {("610402", None), ("610403", "610402")}
    # Each region counts both certificates; the city and the province count each once.
    assert await verified("610402") == 2
    assert await verified("610403") == 2
    assert await verified("610400") == 2
    assert await verified("610000") == 2

    # The migration's backfill, run on this database, writes the same copy.
    import importlib.util
    from pathlib import Path

    from sqlalchemy import delete, text

    from api.instruments.models import RegisteredVerification

    versions = Path(__file__).resolve().parents[3] / "portal" / "migrations" / "versions"
    [path] = versions.glob("*_b5ab36cdf373_*.py")
    spec = importlib.util.spec_from_file_location("verification_copy_migration", path)
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    async with database.transaction() as session:
        await session.execute(delete(RegisteredVerification))
        await session.execute(text(migration.BACKFILL))
    assert await verification_copies(database) == copies


async def test_two_transactions_refreshing_one_instrument_at_once_both_commit(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    auth_headers: Headers,
    issue: Issue,
) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")
    owner = await auth_headers(owner_user)
    await issue(number="TT-A", serial="TT-1", manufacturer=MAKER, verified_on=days(-5))
    created = await client.post(
        "/api/v1/instruments",
        json=registration_body(serial="TT-1", manufacturer=MAKER),
        headers=owner,
    )
    assert created.status_code == 201, created.text
    async with database.transaction() as session:
        await enter_due_registrations(session, today=clock.today())
    [row] = await verification_copies(database)
    instrument_id = row[2]

    # The second's DELETE waits on the rows the first deleted; once the first commits, its
    # INSERT meets the rows the first inserted, which its DELETE did not see.
    async def second() -> None:
        async with database.transaction() as session:
            await refresh_verifications(session, [instrument_id])

    async with database.transaction() as session:
        await refresh_verifications(session, [instrument_id])
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.5)
        assert not waiting.done()
    await waiting
    assert await verification_copies(database) == {row}
