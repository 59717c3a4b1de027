"""The bureau's 双随机 desk in the back office (enforcement/desk_pages.py): its region's campaigns
with their state, the create form's choices, a campaign before and after the draw, and the
region's regulator accounts to tie badges to; another region's bureau is refused, as the API
refuses it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from portal.accounts.models import Role, User
from tests.enforcement.support import Headers, Sites, campaign_body


async def test_the_desk_follows_a_campaign_from_commitment_to_draw(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    sites: Sites,
) -> None:
    bureau, _qindu, weicheng = sites
    assert (await client.get("/backoffice/campaigns")).status_code == 303
    citizen = await auth_headers(await make_user(Role.citizen, region="610402"))
    assert (await client.get("/backoffice/campaigns", headers=citizen)).status_code == 403

    empty = await client.get("/backoffice/campaigns", headers=bureau)
    assert empty.status_code == 200
    assert "辖区还没有双随机抽查任务" in empty.text

    created = await client.post(
        "/api/v1/enforcement/campaigns", json=campaign_body(weicheng), headers=bureau
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    listed = await client.get("/backoffice/campaigns", headers=bureau)
    assert campaign["title"] in listed.text
    assert f"/backoffice/campaigns/{campaign['id']}" in listed.text
    assert "已公布承诺值，待抽取" in listed.text
    # Regions by name, never a bare code (辖区（610400）, 区划 610404).
    assert "辖区（咸阳市）" in listed.text
    assert "区划 6" not in listed.text

    page = await client.get(f"/backoffice/campaigns/{campaign['id']}?created=1", headers=bureau)
    assert page.status_code == 200
    assert campaign["commitment"] in page.text
    assert "抽查任务已创建，承诺值已公布" in page.text
    assert 'id="draw-start"' in page.text
    assert campaign["seed"] is None

    # Another region's bureau sees neither the campaign nor the region's desk.
    xian = await auth_headers(await make_user(Role.regulator, region="610100"))
    assert (
        await client.get(f"/backoffice/campaigns/{campaign['id']}", headers=xian)
    ).status_code == 403
    assert (
        await client.get("/backoffice/campaigns?region=610400", headers=xian)
    ).status_code == 403
    own = await client.get("/backoffice/campaigns", headers=xian)
    assert own.status_code == 200
    assert campaign["title"] not in own.text
    # A district's bureau sees its city's campaign only when it lies in the district.
    qindu_bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    assert (
        campaign["title"]
        not in (await client.get("/backoffice/campaigns", headers=qindu_bureau)).text
    )

    drawn = await client.post(
        f"/api/v1/enforcement/campaigns/{campaign['id']}/draw", headers=bureau
    )
    assert drawn.status_code == 200, drawn.text
    seed = drawn.json()["seed"]
    after = await client.get(f"/backoffice/campaigns/{campaign['id']}", headers=bureau)
    assert seed in after.text
    assert 'id="pairings"' in after.text
    assert "区划 6" not in after.text
    assert "咸阳市；从" in after.text
    public = await client.get("/inspections")
    assert "<td>咸阳市</td>" in public.text
    assert 'id="draw-start"' not in after.text
    assert f'href="/inspections/{campaign["id"]}"' in after.text
    assert "scripts/verify_draw.py" in after.text
    for pairing in drawn.json()["result"]:
        for badge in pairing["inspectors"]:
            assert f"（{badge}）" in after.text
    state = await client.get("/backoffice/campaigns", headers=bureau)
    assert "已抽取，检查进行中" in state.text
    assert "检查完成 0 / 1" in state.text

    missing = await client.get(
        "/backoffice/campaigns/00000000-0000-0000-0000-000000000000", headers=bureau
    )
    assert missing.status_code == 404


async def test_the_create_form_offers_the_regions_districts_and_the_catalogue(
    client: httpx.AsyncClient, make_user: Callable[..., Awaitable[User]], auth_headers: Headers
) -> None:
    bureau = await auth_headers(await make_user(Role.regulator, region="610400"))
    form = await client.get("/backoffice/campaigns/new", headers=bureau)
    assert form.status_code == 200
    assert 'value="610402"' in form.text
    assert "秦都区" in form.text
    assert 'value="610102"' not in form.text  # 西安市's districts are not this bureau's
    assert 'name="categories" value="scale-pc"' in form.text
    assert "公布承诺值" in form.text

    # An administrator may work on any region's desk; a bureau only on its own.
    admin = await auth_headers(await make_user(Role.admin, region="610000"))
    assert (
        await client.get("/backoffice/campaigns/new?region=610100", headers=admin)
    ).status_code == 200
    xian = await auth_headers(await make_user(Role.regulator, region="610100"))
    assert (
        await client.get("/backoffice/campaigns/new?region=610400", headers=xian)
    ).status_code == 403


async def test_badges_are_tied_to_the_regions_regulator_accounts(
    client: httpx.AsyncClient, make_user: Callable[..., Awaitable[User]], auth_headers: Headers
) -> None:
    bureau = await auth_headers(await make_user(Role.regulator, region="610400"))
    qindu = await make_user(Role.regulator, region="610402")
    xian = await make_user(Role.regulator, region="610100")
    page = await client.get("/backoffice/inspectors", headers=bureau)
    assert page.status_code == 200
    assert f'value="{qindu.id}"' in page.text
    assert f'value="{xian.id}"' not in page.text
    tied = await client.put(
        "/api/v1/enforcement/inspectors/SX-ZF-9001",
        json={"user_id": str(qindu.id)},
        headers=bureau,
    )
    assert tied.status_code == 200, tied.text
    after = await client.get("/backoffice/inspectors", headers=bureau)
    assert "SX-ZF-9001" in after.text
    # Tied already: no longer offered in the form.
    assert f'option value="{qindu.id}"' not in after.text
    other = await auth_headers(xian)
    assert (
        await client.get("/backoffice/inspectors?region=610400", headers=other)
    ).status_code == 403
