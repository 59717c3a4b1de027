"""Public lookup: every status, masking, 404, caching, serial lookup, instruments by token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from api.certificates import lookup
from api.certificates.errors import InstrumentNotFound
from api.certificates.import_rows import CertRow, validate_row
from api.certificates.reader import get_reader
from api.certificates.registry import validation_context
from api.certificates.schemas import CertificateRead
from api.certificates.settings import CertificatesSettings
from api.certificates.store import store_rows
from portal.accounts.models import Role, User
from portal.db import Database
from portal.settings import Settings
from tests.api.certificates.support import Issue, cert_body, days, valid_uscc
from tests.support import assert_problem


async def _status(client: httpx.AsyncClient, number: str) -> str:
    response = await client.get(f"/api/v1/certificates/{number}")
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def test_every_status(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    await issue(number="S-VALID", valid_until=days(200))
    await issue(number="S-EXPIRING", valid_until=days(30))  # the window is 30 days, inclusive
    await issue(number="S-EXPIRED", verified_on=days(-300), valid_until=days(-1))
    await issue(number="S-FAILED", conclusion="不合格", valid_until=None)
    await issue(number="S-REVOKED")
    await issue(number="S-OLD", serial="SN-CORRECTED")
    headers = await auth_headers(institution_user)
    revoked = await client.post(
        "/api/v1/certificates/S-REVOKED/revoke", json={"reason": "铅封被破坏"}, headers=headers
    )
    assert revoked.status_code == 200, revoked.text
    corrected = await client.post(
        "/api/v1/certificates/S-OLD/correct",
        json={
            "reason": "更正型号",
            "certificate": {
                **(await client.get("/api/v1/certificates/S-OLD")).json()["instrument"],
                "number": "S-NEW",
                "owner_name": "咸阳市秦都区人民路农贸市场有限公司",
                "owner_uscc": valid_uscc(),
                "model": "ACS-30",
                "verified_on": days(-10),
                "valid_until": days(355),
            },
        },
        headers=headers,
    )
    assert corrected.status_code == 201, corrected.text

    assert await _status(client, "S-VALID") == "valid"
    assert await _status(client, "S-EXPIRING") == "expiring"
    assert await _status(client, "S-EXPIRED") == "expired"
    assert await _status(client, "S-FAILED") == "failed"
    assert await _status(client, "S-REVOKED") == "revoked"
    assert await _status(client, "S-OLD") == "superseded"
    assert await _status(client, "S-NEW") == "valid"

    old = (await client.get("/api/v1/certificates/S-OLD")).json()
    assert old["successor_number"] == "S-NEW"
    assert [e["kind"] for e in old["history"]] == ["issued", "corrected"]
    revoked_body = (await client.get("/api/v1/certificates/S-REVOKED")).json()
    assert revoked_body["history"][-1] == {
        **revoked_body["history"][-1],
        "kind": "revoked",
        "reason": "铅封被破坏",
    }
    failed = (await client.get("/api/v1/certificates/S-FAILED")).json()
    assert failed["kind"] == "notice" and failed["valid_until"] is None  # noqa: PT018
    # the instrument points at the correction, not at the superseded certificate
    token = old["instrument"]["sticker_token"]
    instrument = (await client.get(f"/api/v1/instruments/{token}")).json()
    assert instrument["certificate"]["number"] == "S-NEW"
    assert instrument["status"] == "valid"


async def test_unknown_number_is_a_problem(client: httpx.AsyncClient) -> None:
    assert_problem(
        await client.get("/api/v1/certificates/NO-SUCH-NUMBER"), 404, "certificate_not_found"
    )
    assert_problem(await client.get("/api/v1/instruments/nope"), 404, "instrument_not_found")


async def test_individual_owners_are_masked_enterprises_named(
    client: httpx.AsyncClient, issue: Issue
) -> None:
    await issue(number="M-1", owner_name="张三丰", owner_uscc=None, address="我家客厅")
    await issue(number="M-2", owner_name="欧阳娜娜", owner_uscc=None, owner_type="个人")
    await issue(number="M-3")
    one = (await client.get("/api/v1/certificates/M-1")).json()["instrument"]
    assert one["owner_name"] == "张**"
    assert one["owner_type"] == "individual"
    assert one["address"] is None  # an individual's address may be a home
    assert "张三丰" not in (await client.get("/api/v1/certificates/M-1")).text
    assert (await client.get("/api/v1/certificates/M-2")).json()["instrument"][
        "owner_name"
    ] == "欧阳**"
    three = (await client.get("/api/v1/certificates/M-3")).json()["instrument"]
    assert three["owner_name"] == "咸阳市秦都区人民路农贸市场有限公司"
    assert three["owner_uscc"] == valid_uscc()
    assert three["address"] == "人民路农贸市场"


async def test_etag_and_cache_control(client: httpx.AsyncClient, issue: Issue) -> None:
    await issue(number="E-1")
    first = await client.get("/api/v1/certificates/E-1")
    assert first.headers["cache-control"].startswith("public, max-age=")
    etag = first.headers["etag"]
    again = await client.get("/api/v1/certificates/E-1", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


async def test_lookup_by_serial_is_exact_and_paginated(
    client: httpx.AsyncClient, issue: Issue
) -> None:
    await issue(number="P-1", serial="XS-42", verified_on=days(-300), valid_until=days(-40))
    await issue(number="P-2", serial="XS-42", verified_on=days(-20), valid_until=days(300))
    await issue(number="P-3", serial="XS-420")
    page = (
        await client.get("/api/v1/certificates", params={"serial": "XS-42", "per_page": 1})
    ).json()
    assert page["total"] == 2
    assert [i["number"] for i in page["items"]] == ["P-2"]
    second = (
        await client.get(
            "/api/v1/certificates", params={"serial": "XS-42", "per_page": 1, "page": 2}
        )
    ).json()
    assert [(i["number"], i["status"]) for i in second["items"]] == [("P-1", "expired")]
    other = await client.get(
        "/api/v1/certificates", params={"serial": "XS-42", "category": "taximeter"}
    )
    assert other.json()["total"] == 0


async def test_same_number_at_two_institutions_needs_the_institution(
    client: httpx.AsyncClient,
    issue: Issue,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    database: Database,
    settings: Settings,
) -> None:
    """A second institution cannot make a number ambiguous (issue 11 #2): it is refused at issue
    time. Duplicates stored before that rule still answer 409 until the institution is named."""
    other = await make_user(Role.institution)
    first = await issue(number="DUP-1")
    refused = await client.post(
        "/api/v1/certificates",
        json=cert_body(number="DUP-1", serial="OTHER-SERIAL"),
        headers=await auth_headers(other),
    )
    assert_problem(refused, 409, "certificate_number_in_use")
    assert (await client.get("/api/v1/certificates/DUP-1")).status_code == 200

    async with database.transaction() as session:  # a duplicate from before the rule
        ctx = await validation_context(session, settings.of(CertificatesSettings))
        row = validate_row(cert_body(number="DUP-1", serial="OTHER-SERIAL"), ctx)
        assert isinstance(row, CertRow)
        await store_rows(
            session,
            institution_id=other.organization_id,
            rows=[(1, row)],
            actor_id=None,
            scope=None,
        )
    assert_problem(
        await client.get("/api/v1/certificates/DUP-1"), 409, "certificate_number_ambiguous"
    )
    code = first["institution"]["code"]
    chosen = await client.get("/api/v1/certificates/DUP-1", params={"institution": code})
    assert chosen.json()["instrument"]["serial"] == first["instrument"]["serial"]


async def test_find_instrument_ref_for_other_domains(
    client: httpx.AsyncClient, issue: Issue, database: Database
) -> None:
    created = await issue(number="R-1", owner_name="李四", owner_uscc=None)
    token = created["instrument"]["sticker_token"]
    async with database.sessionmaker() as session:
        by_token = await lookup.find_instrument_ref(session, sticker_token=token)
        by_number = await lookup.find_instrument_ref(session, certificate_number="R-1")
        missing = await lookup.find_instrument_ref(session, sticker_token="nothing-here")
    assert by_token is not None and by_token == by_number  # noqa: PT018
    assert by_token.certificate_number == "R-1"
    # masked: the answer pre-fills the public complaint form (issue 11 #4)
    assert by_token.owner_name == "李*"
    assert by_token.address == ""
    assert by_token.category_name == "电子计价秤"
    assert missing is None


async def test_fast_path_matches_the_reference_for_every_status(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    database: Database,
    settings: Settings,
) -> None:
    """The driver-level reader (the hot route) and lookup.lookup_certificate agree."""
    headers = await auth_headers(institution_user)
    await issue(number="FP-1", owner_name="张三", owner_uscc=None)
    await issue(number="FP-2", conclusion="不合格", valid_until=None)
    await issue(number="FP-3", verified_on=days(-300), valid_until=days(-3))
    await issue(number="FP-4")
    await client.post("/api/v1/certificates/FP-4/revoke", json={"reason": "误发"}, headers=headers)
    await issue(number="FP-5", serial="FP-SERIAL")
    body = {**cert_body(number="FP-6", serial="FP-SERIAL"), "verified_on": days(-10)}
    await client.post(
        "/api/v1/certificates/FP-5/correct",
        json={"reason": "更正", "certificate": body},
        headers=headers,
    )
    for number in ("FP-1", "FP-2", "FP-3", "FP-4", "FP-5", "FP-6"):
        fast = (await client.get(f"/api/v1/certificates/{number}")).json()
        async with database.sessionmaker() as session:
            reference = await lookup.lookup_certificate(
                session, number, settings=settings.of(CertificatesSettings)
            )
        assert fast == reference.model_dump(mode="json"), number
        CertificateRead.model_validate(fast)


async def test_sticker_page_reader_matches_the_session_for_every_status(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    database: Database,
    settings: Settings,
) -> None:
    """The driver-level instrument read of the sticker page and lookup.get_instrument agree:
    valid, failed, expired, revoked, individual owner masked, and an instrument never verified
    is not there to read (no sticker without a certificate)."""
    headers = await auth_headers(institution_user)
    tokens = [
        (await issue(number="SR-1", owner_name="张三", owner_uscc=None))["instrument"],
        (await issue(number="SR-2", conclusion="不合格", valid_until=None))["instrument"],
        (await issue(number="SR-3", verified_on=days(-300), valid_until=days(-3)))["instrument"],
        (await issue(number="SR-4"))["instrument"],
    ]
    await client.post("/api/v1/certificates/SR-4/revoke", json={"reason": "误发"}, headers=headers)
    config = settings.of(CertificatesSettings)
    reader = get_reader(client._transport.app.state)  # type: ignore[attr-defined]
    for instrument in tokens:
        token = instrument["sticker_token"]
        fast = await reader.instrument(token, expiring_days=config.certificate_expiring_days)
        async with database.sessionmaker() as session:
            reference = await lookup.get_instrument(session, token, settings=config)
        assert fast == reference, token
    assert {
        (await reader.instrument(i["sticker_token"], expiring_days=30)).status for i in tokens
    } == {"valid", "failed", "expired", "revoked"}
    with pytest.raises(InstrumentNotFound):
        await reader.instrument("NO-SUCH-TOKEN", expiring_days=30)
