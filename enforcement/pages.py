"""Portal pages: the bureau's risk list with its chart by district (精准执法), and the public
pages of 双随机 campaigns (the commitment, then the seed and the result)."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from enforcement import campaigns, desk_pages, inspection_pages, published, scores
from enforcement.risk_model import BAND_ZH
from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action
from portal.db import DbSession
from portal.errors import GongzhiError, NotFound
from portal.pagination import PageRequest
from portal.web import error_page, render, render_public, staff_page

router = APIRouter(include_in_schema=False)
# Before /inspections/{campaign_id}: /inspections/{id}/results is a page of its own.
router.include_router(inspection_pages.router)
router.include_router(desk_pages.router)

RiskPage = Annotated[User | Response, staff_page(Action.risk_view)]
_REGION = re.compile(r"^\d{6}$")
_CATEGORY = re.compile(r"^[a-z0-9-]{1,32}$")
PER_PAGE = 50


def _param(request: Request, name: str, pattern: re.Pattern[str]) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value if pattern.match(value) else None


@router.get("/backoffice/risk")
async def risk_page(request: Request, session: DbSession, user: RiskPage) -> Response:
    if isinstance(user, Response):
        return user
    region = _param(request, "region", _REGION)
    district = _param(request, "district", _REGION)
    category = _param(request, "category", _CATEGORY)
    asked = request.query_params.get("page", "1")
    number = int(asked) if asked.isdigit() and 1 <= int(asked) <= 10_000 else 1
    page = PageRequest(page=number, per_page=PER_PAGE)
    try:
        found, total = await scores.list_scores(
            session,
            actor=user,
            region=region,
            district=district,
            category=category,
            band=None,
            page=page,
        )
        districts = await scores.by_district(session, actor=user, region=region, category=category)
    except GongzhiError as exc:
        return error_page(request, exc)
    largest = max((d.total for d in districts), default=0) or 1
    return render(
        request,
        "enforcement/risk.html",
        {
            "user": user,
            "scores": found,
            "total": total,
            "page": number,
            "pages": max(1, -(-total // PER_PAGE)),
            "districts": districts,
            "largest": largest,
            "region": region or user.region_code or "",
            "district": district or "",
            "category": category or "",
            "band_zh": BAND_ZH,
        },
    )


@router.get("/inspections")
async def campaigns_page(request: Request, session: DbSession, user: OptionalUser) -> Response:
    rows, _ = await campaigns.list_public(
        session, region=None, page=PageRequest(page=1, per_page=50)
    )
    return render_public(request, "enforcement/campaigns.html", {"user": user, "campaigns": rows})


@router.get("/inspections/{campaign_id}")
async def campaign_page(
    request: Request, session: DbSession, user: OptionalUser, campaign_id: uuid.UUID
) -> Response:
    try:
        campaign = await published.page(session, campaign_id)
    except NotFound:
        return render(request, "error.html", {"status": 404}, status_code=404)
    return render_public(
        request,
        "enforcement/campaign.html",
        {
            "user": user,
            "campaign": campaign,
            "drawn": campaign.status == "drawn",
            "digests": campaign.digests,
            "sites": campaign.sites,
            "inspectors": campaign.inspectors,
            "band_zh": BAND_ZH,
        },
    )
