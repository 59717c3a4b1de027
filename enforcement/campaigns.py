"""双随机一公开 campaigns: a region's bureau names the scope, the number of sites, the weighting
and the inspector pool; the candidate list is taken from the current risk scores and committed to
(with a secret seed) before anyone can draw; the draw publishes the seed and the result
(enforcement/draw.py)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from enforcement import draw, inspections
from enforcement.errors import (
    AlreadyDrawn,
    CampaignNotFound,
    DuplicateInspector,
    ExclusionNotFound,
    TooFewCandidates,
    TooManyCandidates,
    TooManyInspectors,
    Understaffed,
)
from enforcement.models import CampaignStatus, InspectionCampaign, RiskScore
from enforcement.schemas import CampaignCreate
from enforcement.scores import in_region
from enforcement.settings import EnforcementSettings
from portal import clock
from portal.accounts.models import Organization, OrganizationKind, User
from portal.accounts.permissions import Action, authorize
from portal.audit import service as audit
from portal.errors import UnknownRegion
from portal.pagination import PageRequest
from portal.privacy import mask_person_name, public_owner_name
from portal.regions.models import Region
from portal.regions.service import get_region


def _is_individual(uscc: str | None) -> bool:
    # 统一社会信用代码: registration authority 9 (工商) and kind 2 is 个体工商户, a person.
    return bool(uscc) and str(uscc).startswith("92")


async def candidates(
    session: AsyncSession, data: CampaignCreate, *, limit: int
) -> list[dict[str, Any]]:
    """The sites in scope (current risk scores of the region having an instrument of one of the
    categories and one of the usage areas, when given), in id order, as published."""
    where = [col(RiskScore.current).is_(True), in_region(col(RiskScore.region_code), data.region)]
    if data.categories:
        where.append(or_(*(col(RiskScore.categories).like(f"%,{c},%") for c in data.categories)))
    if data.usage_areas:
        where.append(or_(*(col(RiskScore.usage_areas).like(f"%,{a},%") for a in data.usage_areas)))
    rows = (
        await session.execute(
            select(
                col(RiskScore.owner_id),
                col(RiskScore.owner_name),
                col(RiskScore.owner_uscc),
                col(RiskScore.region_code),
                col(RiskScore.band),
            )
            .where(*where)
            .order_by(col(RiskScore.owner_id))
            .limit(limit + 1)
        )
    ).all()
    if len(rows) > limit:
        raise TooManyCandidates(
            f"More than {limit} candidate sites: narrow the scope.",
            detail_zh=f"检查对象超过 {limit} 家，请缩小范围。",
        )
    weights = data.band_weights.model_dump()
    found = [
        {
            "id": str(r[0]),
            "name": public_owner_name(r[1], is_individual=_is_individual(r[2])),
            "district": r[3],
            "band": r[4],
            "weight": weights[r[4]] if data.weighting == "risk_band" else 1,
        }
        for r in rows
    ]
    found.sort(key=lambda c: c["id"])
    return found


_IN_CHUNK = 1000


async def resolve_exclusions(session: AsyncSession, data: CampaignCreate) -> dict[str, list[str]]:
    """Each exclusion as typed (单位编号 or 统一社会信用代码) → the owner sites it names, in two
    set-based queries; one naming no owner site refuses the campaign (exclusion_not_found, each
    with the field it came from), since an exclusion silently dropped would pair the inspector
    with the very site they must not inspect."""
    ids: dict[uuid.UUID, set[str]] = {}
    usccs: dict[str, set[str]] = {}
    for inspector in data.inspectors:
        for raw in inspector.exclusions:
            value = raw.strip()
            if len(value) == 18:
                usccs.setdefault(value.upper(), set()).add(value)
            else:
                ids.setdefault(uuid.UUID(value), set()).add(value)
    found: dict[str, list[str]] = {}
    # An owner site of the campaign's region: one elsewhere is never drawn, so excluding it
    # excludes nothing (a mistyped code that happens to be a real enterprise elsewhere).
    owner = and_(
        col(Organization.kind) == OrganizationKind.owner,
        in_region(col(Organization.region_code), data.region),
    )
    wanted_ids = sorted(ids)
    for start in range(0, len(wanted_ids), _IN_CHUNK):
        chunk = wanted_ids[start : start + _IN_CHUNK]
        for site_id in await session.scalars(
            select(col(Organization.id)).where(owner, col(Organization.id).in_(chunk))
        ):
            for typed in ids[site_id]:
                found[typed] = [str(site_id)]
    wanted_usccs = sorted(usccs)
    for start in range(0, len(wanted_usccs), _IN_CHUNK):
        chunk_codes = wanted_usccs[start : start + _IN_CHUNK]
        rows = await session.execute(
            select(col(Organization.id), col(Organization.uscc)).where(
                owner, col(Organization.uscc).in_(chunk_codes)
            )
        )
        for site_id, uscc in rows.all():
            for typed in usccs[str(uscc)]:
                found.setdefault(typed, []).append(str(site_id))
    errors = []
    unknown: list[str] = []
    for index, inspector in enumerate(data.inspectors):
        missing = [e.strip() for e in inspector.exclusions if e.strip() not in found]
        if missing:
            unknown.extend(m for m in missing if m not in unknown)
            errors.append(
                {
                    "field": f"body.inspectors.{index}.exclusions",
                    "type": "exclusion_not_found",
                    "message": f"No owner site in the region: {', '.join(missing[:5])}",
                    "message_zh": f"本地区没有对应的使用单位：{'、'.join(missing[:5])}",
                }
            )
    if errors:
        raise ExclusionNotFound(
            f"{len(unknown)} exclusions name no owner site of the region: "
            f"{', '.join(unknown[:5])}.",
            detail_zh=f"{len(unknown)} 个回避单位在本地区没有对应的使用单位：{'、'.join(unknown[:5])}。"
            "请填写「风险分级监管」列表中的单位编号或统一社会信用代码。",
            errors=errors[:50],
        )
    return found


async def check_districts(session: AsyncSession, data: CampaignCreate) -> None:
    """Each inspector's district names a division: the draw keeps an inspector away from the
    sites of their own district (draw.conflicts), and a code naming none (a typo) matches no
    site, which would send the inspector to their own district's sites."""
    wanted = sorted({i.district for i in data.inspectors})
    known: set[str] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        known.update(
            await session.scalars(select(col(Region.code)).where(col(Region.code).in_(chunk)))
        )
    unknown = [code for code in wanted if code not in known]
    if unknown:
        raise UnknownRegion(
            f"No administrative division has code {', '.join(unknown[:5])} (inspectors' districts).",
            detail_zh=f"执法人员所在区县的行政区划代码不存在：{'、'.join(unknown[:5])}。",
            errors=[
                {
                    "field": f"body.inspectors.{index}.district",
                    "type": "unknown_region",
                    "message": f"No administrative division has code {i.district}",
                    "message_zh": f"行政区划代码 {i.district} 不存在",
                }
                for index, i in enumerate(data.inspectors)
                if i.district not in known
            ][:50],
        )


def _inspectors(data: CampaignCreate, resolved: dict[str, list[str]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    pool = []
    for i in sorted(data.inspectors, key=lambda i: i.id):
        if i.id in seen:
            raise DuplicateInspector(detail_zh=f"执法证号 {i.id} 重复。")
        seen.add(i.id)
        pool.append(
            {
                "id": i.id,
                "name": mask_person_name(i.name),
                "district": i.district,
                "exclusions": sorted({s for e in i.exclusions for s in resolved[e.strip()]}),
            }
        )
    return pool


def understaffed(
    listed: Sequence[dict[str, Any]], pool: Sequence[dict[str, Any]], per_site: int
) -> list[dict[str, Any]]:
    """The candidates with fewer than ``per_site`` inspectors without a conflict
    (draw.conflicts), counted per district and per exclusion instead of per pair: checking
    every pair took 28 s for 20,000 sites and 500 inspectors (bench/campaign.py), and a
    campaign may list 200,000."""
    district_of = {c["id"]: c["district"] for c in listed}
    by_district: dict[str, int] = {}
    excluded: dict[str, int] = {}
    for inspector in pool:
        by_district[inspector["district"]] = by_district.get(inspector["district"], 0) + 1
        for site_id in set(inspector.get("exclusions", [])):
            # An exclusion only removes an inspector the district rule has not removed already.
            if site_id in district_of and district_of[site_id] != inspector["district"]:
                excluded[site_id] = excluded.get(site_id, 0) + 1
    return [
        c
        for c in listed
        if len(pool) - by_district.get(c["district"], 0) - excluded.get(c["id"], 0) < per_site
    ]


async def create(
    session: AsyncSession, data: CampaignCreate, *, actor: User, settings: EnforcementSettings
) -> InspectionCampaign:
    await get_region(session, data.region)
    authorize(actor, Action.inspection_manage, region_code=data.region)
    if len(data.inspectors) > settings.enforcement_max_inspectors:
        raise TooManyInspectors(
            detail_zh=f"执法检查人员名单最多 {settings.enforcement_max_inspectors} 人。"
        )
    await check_districts(session, data)
    pool = _inspectors(data, await resolve_exclusions(session, data))
    listed = await candidates(session, data, limit=settings.enforcement_max_candidates)
    if len(listed) < data.sample_size:
        raise TooFewCandidates(
            f"{len(listed)} candidate sites for a sample of {data.sample_size}.",
            detail_zh=f"符合条件的检查对象 {len(listed)} 家，少于抽取数量 {data.sample_size}。",
        )
    per_site = settings.enforcement_inspectors_per_site
    short = understaffed(listed, pool, per_site)
    if short:
        raise Understaffed(
            f"{len(short)} candidate sites have fewer than {per_site} inspectors without a conflict.",
            detail_zh=f"{len(short)} 家检查对象可派的无利害关系执法人员少于 {per_site} 人，请扩充人员名单。",
        )
    campaign_id = uuid.uuid4()
    parameters = {
        "algorithm": draw.ALGORITHM,
        "campaign_id": str(campaign_id),
        "region": data.region,
        "categories": sorted(set(data.categories)),
        "usage_areas": sorted(set(data.usage_areas)),
        "sample_size": data.sample_size,
        "weighting": data.weighting,
        "band_weights": data.band_weights.model_dump() if data.weighting == "risk_band" else None,
        "inspectors_per_site": per_site,
    }
    seed = secrets.token_hex(32)
    campaign = InspectionCampaign(
        id=campaign_id,
        title=data.title,
        region_code=data.region,
        parameters=parameters,
        candidates=listed,
        candidate_count=len(listed),
        inspectors=pool,
        commitment=draw.commitment(seed, listed, pool, parameters),
        seed=seed,
        created_by=actor.id,
        created_at=clock.now(),
    )
    session.add(campaign)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="enforcement.campaign.commit",
        entity_type="inspection_campaign",
        entity_id=campaign.id,
        region_code=campaign.region_code,
        after={"commitment": campaign.commitment, "candidates": len(listed)},
    )
    return campaign


async def get(session: AsyncSession, campaign_id: uuid.UUID) -> InspectionCampaign:
    campaign = await session.get(InspectionCampaign, campaign_id)
    if campaign is None:
        raise CampaignNotFound()
    return campaign


async def run_draw(
    session: AsyncSession, campaign_id: uuid.UUID, *, actor: User
) -> InspectionCampaign:
    """Draw once: the result is computed from the committed lists and seed, both published now."""
    campaign = (
        await session.execute(
            select(InspectionCampaign)
            .where(col(InspectionCampaign.id) == campaign_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if campaign is None:
        raise CampaignNotFound()
    authorize(actor, Action.inspection_manage, region_code=campaign.region_code)
    if campaign.status != CampaignStatus.committed:
        raise AlreadyDrawn()
    result = draw.draw(campaign.seed, campaign.candidates, campaign.inspectors, campaign.parameters)
    # Only the transaction that moves it from committed draws: FOR UPDATE above is a no-op on
    # SQLite, where two draws at once both read "committed" and both answered 200 (two audit
    # records, the second overwriting who drew and when).
    claimed = await session.execute(
        update(InspectionCampaign)
        .where(
            col(InspectionCampaign.id) == campaign_id,
            col(InspectionCampaign.status) == CampaignStatus.committed,
        )
        .values(
            status=CampaignStatus.drawn,
            result=result,
            drawn_by=actor.id,
            drawn_at=clock.now(),
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise AlreadyDrawn()
    await session.refresh(campaign)
    await inspections.assign(session, campaign)
    await audit.record(
        session,
        actor=actor,
        action="enforcement.campaign.draw",
        entity_type="inspection_campaign",
        entity_id=campaign.id,
        region_code=campaign.region_code,
        after={"seed": campaign.seed, "sites": len(result)},
    )
    return campaign


def summary_columns() -> tuple[Any, ...]:
    """A campaign without its lists (which may hold many thousand sites): what lists show."""
    c = InspectionCampaign
    return (
        col(c.id),
        col(c.title),
        col(c.region_code),
        col(c.status),
        col(c.parameters),
        col(c.candidate_count),
        col(c.commitment),
        col(c.created_at),
        col(c.drawn_at),
    )


async def list_public(
    session: AsyncSession, *, region: str | None, page: PageRequest
) -> tuple[Sequence[Any], int]:
    """Campaigns newest first, without their lists (which may hold many thousand sites)."""
    c = InspectionCampaign
    where = [] if region is None else [in_region(col(c.region_code), region)]
    total = (await session.execute(select(func.count()).select_from(c).where(*where))).scalar_one()
    rows = await session.execute(
        select(*summary_columns())
        .where(*where)
        .order_by(col(c.created_at).desc(), col(c.id))
        .offset(page.offset)
        .limit(page.limit)
    )
    return list(rows.all()), int(total)
