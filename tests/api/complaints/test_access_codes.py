"""The 查询码 (issue 14): short, grouped, unambiguous, typed any way a person types it; codes
issued before still work; guessing is rate-limited."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest
from sqlmodel import select

from api.complaints import access_codes
from api.complaints.models import Case
from api.complaints.settings import ComplaintsSettings
from portal.db import Database
from portal.settings import Settings
from tests.api.complaints.support import report_body
from tests.support import assert_problem

GROUPED = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


async def _file(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post("/api/v1/cases", json=report_body())
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


async def _set_code(database: Database, number: str, stored_hash: str) -> None:
    async with database.transaction() as session:
        case = await session.scalar(select(Case).where(Case.tracking_number == number))
        assert case is not None
        case.access_token_hash = stored_hash
        session.add(case)


async def _track(client: httpx.AsyncClient, number: str, code: str) -> httpx.Response:
    return await client.get(f"/api/v1/cases/{number}", headers={"X-Case-Token": code})


async def test_a_new_code_is_16_crockford_symbols_in_groups_of_four(
    client: httpx.AsyncClient, database: Database
) -> None:
    created = await _file(client)
    code = created["access_token"]
    assert GROUPED.match(code), code
    async with database.transaction() as session:
        case = await session.scalar(
            select(Case).where(Case.tracking_number == created["tracking_number"])
        )
        assert case is not None
        assert code.replace("-", "") not in case.access_token_hash  # only its hash is kept
    assert (await _track(client, created["tracking_number"], code)).status_code == 200
    # Two cases never share a code (80 random bits each).
    assert (await _file(client))["access_token"] != code


async def test_the_code_is_accepted_in_any_case_without_dashes_and_with_look_alikes(
    client: httpx.AsyncClient, database: Database
) -> None:
    number = (await _file(client))["tracking_number"]
    code = "10K7-QM2X-HD9P-3RT0"
    await _set_code(database, number, access_codes.hash_code(code))
    for typed in (
        code,
        "10k7-qm2x-hd9p-3rt0",  # lower case
        "10K7QM2XHD9P3RT0",  # no dashes
        " 10K7 QM2X HD9P 3RT0 ",  # spaces between the groups, as read aloud
        "lOK7-QM2X-HD9P-3RTo",  # l for 1, O and o for 0
        "IOk7-qm2x-hd9p-3rt0",  # I for 1
    ):
        assert (await _track(client, number, typed)).status_code == 200, typed
    # The 进度查询 form also takes the full-width dashes and spaces of a Chinese keyboard.
    page = await client.post(
        "/complaints/track",
        data={"tracking_number": number.lower(), "access_token": "10K7－QM2X　HD9P－3RT0"},
    )
    assert page.status_code == 200
    assert 'id="case-number">' + number in page.text
    for wrong in ("10K7-QM2X-HD9P-3RT1", "10K7-QM2X-HD9P-3RT", "10K7-QM2X-HD9P-3RTU"):
        assert_problem(await _track(client, number, wrong), 404, "case_not_found")


async def test_codes_issued_before_still_work(
    client: httpx.AsyncClient, database: Database
) -> None:
    number = (await _file(client))["tracking_number"]
    # A 32-character base64url token as cases were given before issue 14: stored as its SHA-256.
    old = "q9Xk-2lOa_Zb7TcVw3YyR1mN8pLs0HdE"
    await _set_code(database, number, hashlib.sha256(old.encode()).hexdigest())
    assert (await _track(client, number, old)).status_code == 200
    # It was case-sensitive, and stays so: only the new short codes are read loosely.
    assert_problem(await _track(client, number, old.lower()), 404, "case_not_found")


async def test_code_guessing_is_rate_limited(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings.of(ComplaintsSettings), "track_rate_limit_client", "3/minute")
    created = await _file(client)
    number = created["tracking_number"]
    for _ in range(3):
        assert_problem(await _track(client, number, access_codes.new_code()), 404)
    refused = await _track(client, number, created["access_token"])
    assert_problem(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) > 0
    # The 进度查询 page counts against the same limit.
    page = await client.post(
        "/complaints/track",
        data={"tracking_number": number, "access_token": created["access_token"]},
    )
    assert page.status_code == 429
    assert "请求过于频繁" in page.text


def test_normalising_refuses_what_is_not_a_code() -> None:
    assert access_codes.normalise("k7qm-2xhd-9p3r-t6wb") == "K7QM2XHD9P3RT6WB"
    assert access_codes.normalise("K7QM-2XHD-9P3R") is None  # too short
    assert access_codes.normalise("K7QM-2XHD-9P3R-T6WU") is None  # U is not a symbol
    assert access_codes.normalise("K7QM-2XHD-9P3R-T6W*") is None
    assert access_codes.normalise("q9Xk-2lOa_Zb7TcVw3YyR1mN8pLs0HdE") is None
    with pytest.raises(ValueError, match="not an access code"):
        access_codes.hash_code("not a code")
