"""JSON API of risk-based enforcement (regulators: the region's sites ranked by risk, recomputed
on demand; administrators: model versions) and of 双随机 campaigns (regulators commit and draw;
anyone reads the commitment, then the seed and the result)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

import enforcement.follow_up_routes as follow_up_routes
from enforcement import campaigns, draw, inspection_routes, published, risk_models, scores
from enforcement.models import InspectionCampaign, RiskModel, RiskScore
from enforcement.schemas import (
    Band,
    CampaignCreate,
    CampaignRead,
    CampaignSummary,
    CategoryCode,
    DistrictRisk,
    RegionCode,
    RiskModelCreate,
    RiskModelRead,
    RiskPart,
    RiskRecomputeResult,
    RiskScoreDetail,
    RiskScoreHistory,
    RiskScoreRead,
)
from enforcement.settings import EnforcementConfig
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession
from portal.deps import PUBLIC_MAX_AGE, PublicAnswer
from portal.pagination import Page, PageParams

router = APIRouter(prefix="/api/v1", tags=["enforcement"])

RiskViewer = Annotated[User, Depends(require(Action.risk_view))]
ModelAdmin = Annotated[User, Depends(require(Action.risk_model_manage))]
Inspections = Annotated[User, Depends(require(Action.inspection_manage))]
RegionQuery = Annotated[RegionCode | None, Query(description="默认：本人辖区")]


def _codes(text: str) -> list[str]:
    return [c for c in text.split(",") if c]


def score_read(s: RiskScore) -> RiskScoreRead:
    return RiskScoreRead(
        owner_id=s.owner_id,
        owner_name=s.owner_name,
        owner_uscc=s.owner_uscc,
        region_code=s.region_code,
        score=s.score,
        band=s.band,
        model_version=s.model_version,
        instruments=s.instruments,
        categories=_codes(s.categories),
        usage_areas=_codes(s.usage_areas),
        as_of=s.as_of,
        computed_at=s.computed_at,
    )


def score_detail(found: list[RiskScore]) -> RiskScoreDetail:
    current = found[0]
    return RiskScoreDetail(
        **score_read(current).model_dump(),
        inputs=current.inputs,
        breakdown=[RiskPart.model_validate(p) for p in current.breakdown],
        history=[
            RiskScoreHistory(
                score=s.score,
                band=s.band,
                model_version=s.model_version,
                as_of=s.as_of,
                computed_at=s.computed_at,
            )
            for s in found
        ],
    )


def model_read(m: RiskModel) -> RiskModelRead:
    return RiskModelRead(
        version=m.version, parameters=m.parameters, note=m.note, created_at=m.created_at
    )


@router.get("/enforcement/risk-scores", summary="The region's owner sites ranked by risk")
async def list_risk_scores(
    request: Request,
    session: DbSession,
    user: RiskViewer,
    page: PageParams,
    region: RegionQuery = None,
    district: RegionCode | None = None,
    district_name: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="区县名称（如 秦都区），与 district 二选一"),
    ] = None,
    category: CategoryCode | None = None,
    band: Band | None = None,
) -> Page[RiskScoreRead]:
    found, total = await scores.list_scores(
        session,
        actor=user,
        region=region,
        district=district,
        district_name=district_name,
        category=category,
        band=band,
        page=page,
    )
    return Page.of([score_read(s) for s in found], total=total, request=page, url=request)


@router.get("/enforcement/risk-districts", summary="Current risk bands counted by district")
async def risk_by_district(
    session: DbSession,
    user: RiskViewer,
    region: RegionQuery = None,
    category: CategoryCode | None = None,
) -> list[DistrictRisk]:
    found = await scores.by_district(session, actor=user, region=region, category=category)
    return [
        DistrictRisk(
            region_code=d.region_code,
            region_name=d.region_name,
            high=d.high,
            medium=d.medium,
            low=d.low,
        )
        for d in found
    ]


@router.post(
    "/enforcement/risk-scores/recompute",
    summary="Recompute every site of the region with the current model",
)
async def recompute_region(
    session: DbSession, user: RiskViewer, region: RegionQuery = None
) -> RiskRecomputeResult:
    done = await scores.recompute_region(session, actor=user, region=region)
    return RiskRecomputeResult(model_version=done.model_version, as_of=done.as_of, sites=done.sites)


@router.get("/enforcement/risk-scores/{owner_id}", summary="A site's score with its evidence")
async def get_risk_score(
    session: DbSession, user: RiskViewer, owner_id: uuid.UUID
) -> RiskScoreDetail:
    return score_detail(await scores.site_scores(session, actor=user, owner_id=owner_id))


@router.post(
    "/enforcement/risk-scores/{owner_id}/recompute", summary="Recompute one site's score now"
)
async def recompute_site(
    session: DbSession, user: RiskViewer, owner_id: uuid.UUID
) -> RiskScoreDetail:
    await scores.recompute_site(session, actor=user, owner_id=owner_id)
    return score_detail(await scores.site_scores(session, actor=user, owner_id=owner_id))


@router.get("/enforcement/risk-models", summary="Every version of the risk model, newest first")
async def list_risk_models(session: DbSession, user: RiskViewer) -> list[RiskModelRead]:
    return [model_read(m) for m in await risk_models.list_versions(session)]


@router.post("/enforcement/risk-models", status_code=201, summary="Publish a new model version")
async def publish_risk_model(
    session: DbSession, user: ModelAdmin, data: RiskModelCreate
) -> RiskModelRead:
    model = await risk_models.publish(
        session, parameters=data.parameters, note=data.note, actor=user
    )
    return model_read(model)


def campaign_read(c: InspectionCampaign, digests: tuple[str, str, str]) -> CampaignRead:
    drawn = c.status == "drawn"
    candidates_digest, inspectors_digest, parameters_digest = digests
    return CampaignRead(
        id=c.id,
        title=c.title,
        region_code=c.region_code,
        status=c.status.value,
        algorithm=draw.ALGORITHM,
        parameters=c.parameters,
        candidates=c.candidates,
        inspectors=c.inspectors,
        candidates_digest=candidates_digest,
        inspectors_digest=inspectors_digest,
        parameters_digest=parameters_digest,
        commitment=c.commitment,
        seed=c.seed if drawn else None,
        result=c.result if drawn else None,
        created_at=c.created_at,
        drawn_at=c.drawn_at,
    )


@router.post(
    "/enforcement/campaigns", status_code=201, summary="Create a 双随机 campaign and commit to it"
)
async def create_campaign(
    session: DbSession, user: Inspections, config: EnforcementConfig, data: CampaignCreate
) -> CampaignRead:
    campaign = await campaigns.create(session, data, actor=user, settings=config)
    return campaign_read(campaign, published.digests(session, campaign))


@router.post("/enforcement/campaigns/{campaign_id}/draw", summary="Draw, publishing the seed")
async def draw_campaign(
    session: DbSession, user: Inspections, campaign_id: uuid.UUID
) -> CampaignRead:
    campaign = await campaigns.run_draw(session, campaign_id, actor=user)
    return campaign_read(campaign, published.digests(session, campaign))


@router.get(
    "/inspection-campaigns",
    summary="双随机 campaigns, newest first",
    dependencies=[PublicAnswer],
)
async def list_campaigns(
    request: Request, session: DbSession, page: PageParams, region: RegionCode | None = None
) -> Page[CampaignSummary]:
    rows, total = await campaigns.list_public(session, region=region, page=page)
    items = [
        CampaignSummary(
            id=r.id,
            title=r.title,
            region_code=r.region_code,
            status=r.status.value,
            sample_size=r.parameters["sample_size"],
            candidates=r.candidate_count,
            commitment=r.commitment,
            created_at=r.created_at,
            drawn_at=r.drawn_at,
        )
        for r in rows
    ]
    return Page.of(items, total=total, request=page, url=request)


@router.get(
    "/inspection-campaigns/{campaign_id}",
    summary="A campaign's commitment, lists, and after the draw its seed and result",
    response_model=CampaignRead,
)
async def get_campaign(session: DbSession, campaign_id: uuid.UUID) -> Response:
    # Made once per state and process (published.py): a large campaign's answer is megabytes.
    body = await published.public_json(
        session,
        campaign_id,
        lambda c: campaign_read(c, published.digests(session, c)).model_dump_json().encode(),
    )
    return Response(
        body,
        media_type="application/json",
        headers={"Cache-Control": f"public, max-age={PUBLIC_MAX_AGE}"},
    )


# After the campaign routes: /inspection-campaigns/{id}/results is a path of its own.
router.include_router(inspection_routes.router)
router.include_router(follow_up_routes.router)
