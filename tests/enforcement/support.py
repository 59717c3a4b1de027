"""What the enforcement tests share: two scored sites in two districts and a campaign over them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from portal.accounts.models import OrganizationKind, Role, User
from tests.api.instruments.support import registration_body
from tests.support import new_owner_uscc

Headers = Callable[[User], Awaitable[dict[str, str]]]
# The bureau of 咸阳市's headers, the 秦都区 site's owner id, the 渭城区 site's owner id.
Sites = tuple[dict[str, str], str, str]


async def scored_sites(
    client: httpx.AsyncClient,
    owner_user: User,
    make_user: Callable[..., Awaitable[User]],
    make_org: Callable[..., Awaitable[Any]],
    auth_headers: Headers,
) -> tuple[dict[str, str], str, str]:
    """Two scored sites, in 秦都区 and 渭城区; the bureau's headers and the two owner ids."""
    registered = await client.post(
        "/api/v1/instruments", json=registration_body(), headers=await auth_headers(owner_user)
    )
    assert registered.status_code == 201, registered.text
    org = await make_org(
        kind=OrganizationKind.owner, region="610404", uscc=new_owner_uscc("610404"), name="张三"
    )
    other = await auth_headers(await make_user(Role.owner, region="610404", org=org))
    body = registration_body(category_code="scale-pc", usage_area="贸易结算")
    assert (await client.post("/api/v1/instruments", json=body, headers=other)).status_code == 201
    bureau = await auth_headers(await make_user(Role.regulator, region="610400"))
    done = await client.post("/api/v1/enforcement/risk-scores/recompute", headers=bureau)
    assert done.json()["sites"] == 2
    return bureau, str(owner_user.organization_id), str(org.id)


def campaign_body(weinan_site: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "2026 年电子计价秤双随机抽查",
        "region": "610400",
        "categories": ["scale-pc"],
        "usage_areas": ["贸易结算"],
        "sample_size": 1,
        "weighting": "risk_band",
        "inspectors": [
            {"id": "ZF-001", "name": "张建国", "district": "610402"},
            {"id": "ZF-002", "name": "李明", "district": "610404"},
            {"id": "ZF-003", "name": "王芳", "district": "610403"},
            {"id": "ZF-004", "name": "赵强", "district": "610481", "exclusions": [weinan_site]},
        ],
    }
    body.update(changes)
    return body


async def drawn_inspections(
    client: httpx.AsyncClient, bureau: dict[str, str], weicheng: str
) -> dict[str, str]:
    """A campaign of two sites the bureau created and drew: its inspections' ids, by site id."""
    created = await client.post(
        "/api/v1/enforcement/campaigns",
        json=campaign_body(weicheng, sample_size=2, categories=[], usage_areas=[]),
        headers=bureau,
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    drawn = await client.post(f"/api/v1/enforcement/campaigns/{campaign_id}/draw", headers=bureau)
    assert drawn.status_code == 200, drawn.text
    listed = await client.get(
        "/api/v1/enforcement/inspections", params={"campaign": campaign_id}, headers=bureau
    )
    return {i["site_id"]: i["id"] for i in listed.json()["items"]}


def inspection_result(
    instruments: list[dict[str, Any]], *, check_note: str = "封印线断开", **changes: Any
) -> dict[str, Any]:
    """A recorded inspection's body: every instrument checked, its seal broken (a failed check)."""
    body: dict[str, Any] = {
        "checks": [
            {
                "registration_id": i["registration_id"],
                "sticker_present": True,
                "scanned": "",
                "seal_intact": False,
                "reading_ok": True,
                "note": check_note,
            }
            for i in instruments
        ],
        "photos": [],
        "acknowledgement": "signed",
        "signatory": "张经理",
        "note": "",
        "follow_up": "correct",
    }
    body.update(changes)
    return body
