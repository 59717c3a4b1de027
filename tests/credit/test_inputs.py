"""Attack review: text a careless or hostile user sends. A required text of only spaces (also
full-width) was accepted and stored empty after the services stripped it: a member shown with no
name on the public list, a review, decision or objection "with written reasons" of none. A name
with control or bidirectional-override characters was stored and shown as typed (U+202E turns
the rest of a name around on the public pages). Each is now a 422 before anything is written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.credit.support import Association, Clock, MakeAssociation, new_uscc
from tests.support import assert_problem

BLANK = "\u3000 \u3000 \u3000 \u3000"


async def _published(assoc: Association, clock: Clock) -> tuple[dict[str, Any], str]:
    member = await assoc.add_member("礼泉县城关加油站", region="610425")
    run = (await assoc.post("/runs", {})).json()
    assert (await assoc.post(f"/runs/{run['id']}/notice")).status_code == 200
    clock.advance(days=14)
    assert (await assoc.post(f"/runs/{run['id']}/publish")).status_code == 200
    return run, member


@pytest.mark.parametrize(
    "name", [BLANK, "礼泉\u202e站油加县", "城关\x07加油站", "城关\u200b加油站\x1b[2J"]
)
async def test_a_member_name_is_plain_text(
    client: httpx.AsyncClient, make_association: MakeAssociation, name: str
) -> None:
    assoc = await make_association()
    response = await assoc.post(
        "/members", {"uscc": new_uscc("610425"), "name": name, "region_code": "610425"}
    )
    assert_problem(response, 422)
    assert (await assoc.get("/members")).json()["total"] == 0


async def test_reasons_and_texts_of_only_spaces_are_refused(
    client: httpx.AsyncClient, clock: Clock, make_association: MakeAssociation
) -> None:
    assoc = await make_association()
    _, member = await _published(assoc, clock)
    head = (await client.get("/api/v1/credit/ledger")).json()["head"]["seq"]

    review = await assoc.post(f"/ratings/{member}/review", {"outcome": "keep", "reasons": BLANK})
    assert_problem(review, 422)
    reply = await assoc.post(f"/ratings/{member}/reply", {"text": BLANK})
    assert_problem(reply, 422)
    assert (await client.get("/api/v1/credit/ledger")).json()["head"]["seq"] == head

    other = await assoc.add_member("礼泉县东关加油站", region="610425")
    run = (await assoc.post("/runs", {})).json()
    assert (await assoc.post(f"/runs/{run['id']}/notice")).status_code == 200
    objection = {
        "batch_id": run["id"],
        "uscc": other,
        "objector_kind": "public",
        "name": "钱女士",
        "contact": "13600000000",
        "text": "该站油枪计量偏少，请协会复核评分依据。",
    }
    for field in ("name", "text", "contact"):
        refused = await client.post(
            "/api/v1/credit/objections", json={**objection, field: BLANK * 3}
        )
        assert_problem(refused, 422)
    lodged = await client.post("/api/v1/credit/objections", json=objection)
    assert lodged.status_code == 201, lodged.text
    decision = await assoc.post(
        f"/objections/{lodged.json()['id']}/decision", {"decision": "rejected", "reasons": BLANK}
    )
    assert_problem(decision, 422)
    [pending] = (await assoc.get("/objections")).json()["items"]
    assert pending["status"] == "pending"


@pytest.mark.parametrize("day", ["0001-01-01", "0001-12-31", "1984-12-31"])
async def test_dates_before_1985_are_refused(
    client: httpx.AsyncClient, make_association: MakeAssociation, day: str
) -> None:
    """A membership and an evaluation dated in year 1 reached the scoring's look-back window
    (as_of minus 730 days) and answered 500 (OverflowError)."""
    assoc = await make_association()
    member = {"uscc": new_uscc("610425"), "name": "城关加油站", "region_code": "610425"}
    assert_problem(await assoc.post("/members", {**member, "joined_on": day}), 422)
    assert (await assoc.post("/members", {**member, "joined_on": "1985-01-01"})).status_code == 201
    assert_problem(await assoc.post("/runs", {"as_of": day}), 422)
    assert (await assoc.get("/runs")).json()["total"] == 0
