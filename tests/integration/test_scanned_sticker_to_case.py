"""Where certificates and complaints meet: a citizen scans a sticker and files a report about
that instrument; the case knows the business, its credit code and the district without the
citizen typing them."""

from __future__ import annotations

import httpx

from portal.accounts.models import Role
from tests.api.certificates.support import Issue, valid_uscc
from tests.support import MakeUser


async def test_report_from_a_scanned_sticker_is_linked_to_the_registry(
    client: httpx.AsyncClient, issue: Issue, make_user: MakeUser, auth_headers
) -> None:
    owner_uscc = valid_uscc("91610404MA6XY0042")
    certificate = await issue(
        owner_name="咸阳市渭城区鲜果行有限公司",
        owner_uscc=owner_uscc,
        address="渭城区文汇路 12 号",
        region_code="610404",
    )
    token = certificate["instrument"]["sticker_token"]

    form = await client.get("/complaints/new", params={"instrument_token": token})
    assert form.status_code == 200
    assert certificate["instrument"]["serial"] in form.text

    response = await client.post(
        "/api/v1/cases",
        json={
            "kind": "report",
            "category": "short_weight",
            "description": "电子秤称重明显偏多，复秤少了三两。",
            "instrument_token": token,
            "extra": {"goods": "苹果", "claimed_quantity": 1000, "actual_quantity": 850},
        },
    )
    assert response.status_code == 201, response.text
    tracking = response.json()["tracking_number"]

    regulator = await make_user(Role.regulator, region="610404")
    queue = await client.get("/api/v1/staff/cases", headers=await auth_headers(regulator))
    assert queue.status_code == 200, queue.text
    [item] = [c for c in queue.json()["items"] if c["tracking_number"] == tracking]
    detail = await client.get(
        f"/api/v1/staff/cases/{item['id']}", headers=await auth_headers(regulator)
    )
    case = detail.json()
    assert case["business_name"] == "咸阳市渭城区鲜果行有限公司"
    assert case["business_uscc"] == owner_uscc
    assert case["region_code"] == "610404"
    assert case["instrument_token"] == token


async def test_unknown_sticker_token_is_kept_but_not_linked(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/cases",
        json={
            "kind": "report",
            "category": "forged_certificate",
            "description": "标志上的二维码扫不出证书。",
            "instrument_token": "NO-SUCH-STICKER",
            "region_code": "610402",
            "extra": {"evidence": "扫码后提示查无此证"},
        },
    )
    # A forged sticker is exactly what this category reports: the case is accepted as filed.
    assert response.status_code == 201, response.text
    assert response.json()["tracking_number"]
