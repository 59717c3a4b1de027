"""The bureau's 双随机 desk (back office): its campaigns and their state, the form that commits to
a new one, the draw, and 执法证号 tied to accounts. The pages only show; static/js/campaigns.js
submits to the JSON API (POST /api/v1/enforcement/campaigns, …/draw, PUT …/inspectors/{badge}),
which checks everything again."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from enforcement import desk, names, published
from enforcement.desk import STAGE_ZH
from enforcement.risk_model import BAND_ZH
from enforcement.settings import EnforcementConfig
from portal import facts
from portal.accounts.models import User
from portal.accounts.permissions import Action
from portal.db import DbSession
from portal.errors import GongzhiError
from portal.web import error_page, render, staff_page

router = APIRouter(include_in_schema=False)

DeskPage = Annotated[User | Response, staff_page(Action.inspection_manage)]
_REGION = re.compile(r"^\d{6}$")
USAGE_AREAS = ["贸易结算", "安全防护", "医疗卫生", "环境监测"]


def _asked_region(request: Request) -> str | None:
    value = request.query_params.get("region", "").strip()
    return value if _REGION.match(value) else None


@router.get("/backoffice/campaigns")
async def desk_list(request: Request, session: DbSession, user: DeskPage) -> Response:
    if isinstance(user, Response):
        return user
    try:
        region = desk.region_for(user, _asked_region(request))
        found = await desk.region_campaigns(session, actor=user, region=region)
    except GongzhiError as exc:
        return error_page(request, exc)
    shown = await names.region_names(session, {region} | {c.region_code for c in found})
    return render(
        request,
        "enforcement/desk.html",
        {
            "user": user,
            "region": region,
            "campaigns": found,
            "stage_zh": STAGE_ZH,
            "region_names": shown,
        },
    )


@router.get("/backoffice/campaigns/new")
async def desk_new(
    request: Request, session: DbSession, config: EnforcementConfig, user: DeskPage
) -> Response:
    if isinstance(user, Response):
        return user
    try:
        region = desk.region_for(user, _asked_region(request))
        districts = await desk.districts(session, region)
    except GongzhiError as exc:
        return error_page(request, exc)
    try:
        categories = facts.instrument_categories()
    except LookupError:
        categories = []
    return render(
        request,
        "enforcement/desk_new.html",
        {
            "user": user,
            "region": region,
            "districts": districts,
            "categories": categories,
            "usage_areas": USAGE_AREAS,
            "per_site": config.enforcement_inspectors_per_site,
            "max_inspectors": config.enforcement_max_inspectors,
        },
    )


@router.get("/backoffice/campaigns/{campaign_id}")
async def desk_campaign(
    request: Request, session: DbSession, user: DeskPage, campaign_id: uuid.UUID
) -> Response:
    if isinstance(user, Response):
        return user
    try:
        await desk.campaign(session, campaign_id, actor=user)
        shown = await published.page(session, campaign_id)
    except GongzhiError as exc:
        return error_page(request, exc)
    return render(
        request,
        "enforcement/desk_campaign.html",
        {
            "user": user,
            "campaign": shown,
            "drawn": shown.status == "drawn",
            "digests": shown.digests,
            "sites": shown.sites,
            "inspectors": shown.inspectors,
            "band_zh": BAND_ZH,
            "created": request.query_params.get("created") == "1",
            "region_names": await names.region_names(
                session, {shown.region_code} | {s["district"] for s in shown.sites.values()}
            ),
        },
    )


@router.get("/backoffice/inspectors")
async def desk_inspectors(request: Request, session: DbSession, user: DeskPage) -> Response:
    if isinstance(user, Response):
        return user
    try:
        region = desk.region_for(user, _asked_region(request))
        accounts = await desk.region_accounts(session, actor=user, region=region)
    except GongzhiError as exc:
        return error_page(request, exc)
    return render(
        request,
        "enforcement/desk_inspectors.html",
        {"user": user, "region": region, "accounts": accounts},
    )
