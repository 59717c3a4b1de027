"""Certificate numbers have one normal form (api/certificates/numbers.py): stored in it, and every
lookup finds a certificate whichever way its number was typed."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import httpx
import pytest

from api.certificates.numbers import normalize_number
from portal.migrate import upgrade
from tests.api.certificates.support import Issue

TYPED = [
    "XYJC2026-0001",
    "xyjc2026-0001",
    "ＸＹＪＣ２０２６－０００１",  # a Chinese input method in full-width mode
    " XYJC 2026 - 0001 ",
    "XYJC2026\u20130001",  # en dash
    "XYJC2026\u20140001",  # em dash
    "XYJC2026\u22120001",  # minus sign
    "xyjc2026\u3000-0001",  # ideographic space
]


@pytest.mark.parametrize("typed", TYPED)
def test_every_way_of_typing_a_number_gives_its_normal_form(typed: str) -> None:
    assert normalize_number(typed) == "XYJC2026-0001"


def test_normal_form_keeps_what_is_not_spacing_case_or_dash() -> None:
    assert normalize_number("(陕)法计(2024)61040001号") == "(陕)法计(2024)61040001号"
    assert normalize_number(normalize_number("ａｂ－１")) == "AB-1"


async def test_lookups_find_a_number_however_it_is_typed(
    client: httpx.AsyncClient, issue: Issue
) -> None:
    issued = await issue(number="xyjc2026-0077")  # stored in normal form
    assert issued["number"] == "XYJC2026-0077"
    for typed in ("xyjc2026-0077", "ＸＹＪＣ２０２６－００７７", "XYJC 2026—0077"):
        api = await client.get(f"/api/v1/certificates/{typed}")
        assert api.status_code == 200, (typed, api.text)
        assert api.json()["number"] == "XYJC2026-0077"
        page = await client.get("/certificates", params={"q": typed})
        assert 'data-status="valid"' in page.text, typed
        assert "XYJC2026-0077" in page.text


async def test_import_stores_numbers_in_normal_form(
    client: httpx.AsyncClient, issue: Issue
) -> None:
    await issue(number="ＭＸ－９")
    assert (await client.get("/api/v1/certificates/MX-9")).status_code == 200


def test_migration_rewrites_stored_numbers_in_normal_form(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    upgrade(f"sqlite+aiosqlite:///{path}", "7c4d2e9f1a58")  # the revision before
    institution, other = uuid.uuid4().hex, uuid.uuid4().hex
    rows = [
        (institution, "abc-1"),
        (institution, "ＸＹ－２"),
        (institution, "dup-3"),  # its normal form is taken: left as it was
        (institution, "DUP-3"),
        (other, "abc-1"),
    ]
    with sqlite3.connect(path) as db:  # foreign keys off: only the numbers matter here
        db.executemany(
            "INSERT INTO certificate (id, number, kind, institution_id, instrument_id, regulation,"
            " conclusion, verified_on, verifier, content_hash, created_at) VALUES (?, ?,"
            " 'certificate', ?, ?, '', '合格', '2026-01-01', '', 'x', '2026-01-01 00:00:00')",
            [(uuid.uuid4().hex, number, org, uuid.uuid4().hex) for org, number in rows],
        )
    upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as db:
        stored = sorted(db.execute("SELECT institution_id, number FROM certificate").fetchall())
    assert stored == sorted(
        [
            (institution, "ABC-1"),
            (institution, "XY-2"),
            (institution, "dup-3"),
            (institution, "DUP-3"),
            (other, "ABC-1"),
        ]
    )
