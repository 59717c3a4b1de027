"""Pages of field inspections: the inspector's list and check form on the phone (移动执法终端,
static/js/inspection.js keeps the form in the browser and submits it idempotently), and the
public results of a campaign (一公开)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from enforcement import campaigns, inspections, names, results
from enforcement.inspections import FOLLOW_UP_ZH, STATE_ZH
from enforcement.settings import EnforcementConfig
from portal import facts
from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action
from portal.db import DbSession
from portal.deps import SettingsDep
from portal.errors import GongzhiError, NotFound
from portal.pagination import PageRequest, page_number
from portal.web import error_page, render, render_public, staff_page

router = APIRouter(include_in_schema=False)

InspectionPage = Annotated[User | Response, staff_page(Action.inspection_manage)]
OUTCOME_ZH = {"passed": "未发现问题", "failed": "发现问题"}


@router.get("/backoffice/inspections")
async def my_inspections(request: Request, session: DbSession, user: InspectionPage) -> Response:
    if isinstance(user, Response):
        return user
    badge = await inspections.badge_of(session, user)
    found, total = await inspections.list_for(
        session, actor=user, mine=True, campaign_id=None, page=PageRequest(page=1, per_page=100)
    )
    # The bureau's view too: the inspections of its region's campaigns, which it supervises.
    try:
        region, _ = await inspections.list_for(
            session,
            actor=user,
            mine=False,
            campaign_id=None,
            page=PageRequest(page=1, per_page=100),
        )
    except GongzhiError:
        region = []
    sites = await inspections.site_cards(session, [f.inspection for f in [*found, *region]])
    return render(
        request,
        "enforcement/inspections.html",
        {
            "user": user,
            "badge": badge,
            "todo": [f for f in found if f.inspection.status == "assigned"],
            "done": [f for f in found if f.inspection.status == "done"],
            "total": total,
            "region": region,
            "sites": sites,
            "outcome_zh": OUTCOME_ZH,
        },
    )


@router.get("/backoffice/inspections/{inspection_id}")
async def inspection_form(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    user: InspectionPage,
    inspection_id: uuid.UUID,
) -> Response:
    if isinstance(user, Response):
        return user
    try:
        inspection = await inspections.get(session, inspection_id, actor=user)
    except GongzhiError as exc:
        return error_page(request, exc)
    found = await inspections.instruments(session, inspection)
    photos = await facts.photo_links(
        session, settings, media_ids=[uuid.UUID(p) for p in inspection.photos]
    )
    return render(
        request,
        "enforcement/inspection.html",
        {
            "user": user,
            "inspection": inspection,
            "site": (await inspections.site_cards(session, [inspection])).get(inspection.id),
            "title": await inspections.campaign_title(session, inspection),
            "instruments": found,
            "names": names.category_names(),
            "photos": photos,
            "state_zh": STATE_ZH,
            "current_states": inspections.CURRENT_STATES,
            "outcome_zh": OUTCOME_ZH,
            "follow_up_zh": FOLLOW_UP_ZH,
        },
    )


@router.get("/inspections/{campaign_id}/results")
async def campaign_results(
    request: Request,
    session: DbSession,
    config: EnforcementConfig,
    user: OptionalUser,
    campaign_id: uuid.UUID,
) -> Response:
    number = page_number(request.query_params.get("page"))
    try:
        campaign = await campaigns.get(session, campaign_id)
        found, total = await results.published(
            session, campaign_id, page=PageRequest(page=number, per_page=50)
        )
    except NotFound:
        return render(request, "error.html", {"status": 404}, status_code=404)
    done, public = await results.counts(session, campaign_id)
    shown = await names.public_region_names(session, {r.district for r in found})
    return render_public(
        request,
        "enforcement/results.html",
        {
            "user": user,
            "campaign": campaign,
            "results": found,
            "total": total,
            "page": number,
            "pages": max(1, -(-total // 50)),
            "done": done,
            "waiting": done - public,
            "outcome_zh": OUTCOME_ZH,
            "follow_up_zh": FOLLOW_UP_ZH,
            "publish_days": config.enforcement_publish_working_days,
            "region_names": shown,
        },
    )
