"""Portal pages: the bureau's risk list with its chart by district (精准执法), and the public
pages of 双随机 campaigns (the commitment, then the seed and the result)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

import enforcement.follow_up_pages as follow_up_pages
from enforcement import campaigns, desk_pages, inspection_pages, names, published, scores
from enforcement.risk_model import BAND_ZH
from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action
from portal.db import DbSession
from portal.errors import GongzhiError, NotFound
from portal.pagination import PageRequest, page_number
from portal.web import error_page, render, render_public, staff_page

router = APIRouter(include_in_schema=False)
# Before /inspections/{campaign_id}: /inspections/{id}/results is a page of its own.
router.include_router(inspection_pages.router)
router.include_router(desk_pages.router)
router.include_router(follow_up_pages.router)

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
    number = page_number(request.query_params.get("page"))
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
    shown_region = region or user.region_code or ""
    codes = {s.region_code for s in found} | {d.region_code for d in districts} | {shown_region}
    return render(
        request,
        "enforcement/risk.html",
        {
            "region_names": await names.region_names(session, codes),
            "category_names": names.category_names(),
            "user": user,
            "scores": found,
            "total": total,
            "page": number,
            "pages": max(1, -(-total // PER_PAGE)),
            "districts": districts,
            "largest": largest,
            "region": shown_region,
            "district": district or "",
            "category": category or "",
            "band_zh": BAND_ZH,
        },
    )


FACTOR_ZH = {
    "instruments": "强检器具（超期、未检定、不合格）",
    "complaints": "属实的投诉举报",
    "penalties": "公示中的行政处罚",
    "credit": "行业协会诚信等级",
    "findings": "以往双随机检查发现的问题",
    "dishonesty_list": "列入严重违法失信名单",
}
INSTRUMENT_STATE_ZH = {
    "overdue": "超期未检",
    "never_verified": "从未检定",
    "failed": "检定不合格",
    "ok": "正常",
}
FOLLOW_UP_ZH = {"none": "无", "correct": "责令改正", "penalty_case": "立案查处"}


@router.get("/backoffice/risk/{owner_id}")
async def risk_site_page(
    request: Request, session: DbSession, user: RiskPage, owner_id: uuid.UUID
) -> Response:
    """One site's score with its evidence: each part's points, the facts it was computed from
    (instruments by category and state, complaints, penalties, grades, earlier findings) and
    its history, like the credit breakdown."""
    if isinstance(user, Response):
        return user
    try:
        found = await scores.site_scores(session, actor=user, owner_id=owner_id)
    except GongzhiError as exc:
        return error_page(request, exc)
    current = found[0]
    return render(
        request,
        "enforcement/risk_site.html",
        {
            "user": user,
            "score": current,
            "history": found,
            "district": (await names.region_names(session, {current.region_code})).get(
                current.region_code, current.region_code
            ),
            "category_names": names.category_names(),
            "factor_zh": FACTOR_ZH,
            "state_zh": INSTRUMENT_STATE_ZH,
            "follow_up_zh": FOLLOW_UP_ZH,
            "band_zh": BAND_ZH,
            "recomputed": request.query_params.get("recomputed") == "1",
        },
    )


@router.post("/backoffice/risk/{owner_id}/recompute")
async def risk_site_recompute(
    request: Request, session: DbSession, user: RiskPage, owner_id: uuid.UUID
) -> Response:
    """Recompute one site now (after a decision, a complaint concluded…)."""
    if isinstance(user, Response):
        return user
    try:
        await scores.recompute_site(session, actor=user, owner_id=owner_id)
    except GongzhiError as exc:
        return error_page(request, exc)
    return RedirectResponse(f"/backoffice/risk/{owner_id}?recomputed=1", status_code=303)


# The standalone verifier (standard library only), served so that anyone can run it without the
# repository; a deployment without the checkout's scripts/ answers 404.
VERIFIER = Path(__file__).resolve().parents[1] / "scripts" / "verify_draw.py"


@router.get("/inspections/verify_draw.py")
async def verifier_script() -> Response:
    try:
        body = VERIFIER.read_bytes()
    except OSError:
        raise NotFound(
            "The verifier script is not installed here.", detail_zh="本站未附带复核脚本。"
        ) from None
    return Response(
        body,
        media_type="text/x-python; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="verify_draw.py"',
            "Cache-Control": "public, max-age=3600",
        },
    )


@router.get("/inspections")
async def campaigns_page(request: Request, session: DbSession, user: OptionalUser) -> Response:
    rows, _ = await campaigns.list_public(
        session, region=None, page=PageRequest(page=1, per_page=50)
    )
    shown = await names.public_region_names(session, {c.region_code for c in rows})
    return render_public(
        request,
        "enforcement/campaigns.html",
        {"user": user, "campaigns": rows, "region_names": shown},
    )


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
            "region_names": await names.public_region_names(
                session,
                {campaign.region_code} | {s["district"] for s in campaign.sites.values()},
            ),
        },
    )
