"""Risk scores of owner sites: gathered from the platform's facts (portal/facts.py) only, scored
by the current model version, stored with their inputs and points; listed for a region's bureau.

Set-based: a recomputation asks each fact once for the whole region (a handful of GROUP BY
queries whatever the number of sites), scores in memory and writes in batches."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from enforcement import risk_models
from enforcement.errors import DistrictNotFound, RiskScoreNotFound, SiteNotFound
from enforcement.models import RiskScore
from enforcement.risk_model import RiskParameters, SiteInputs, jsonable, score_site
from portal import clock, facts
from portal.accounts.models import Organization, OrganizationKind, User
from portal.accounts.permissions import Action, authorize
from portal.pagination import PageRequest
from portal.regions.models import Region
from portal.regions.service import code_bounds, get_region

# The PostgreSQL advisory lock of risk recomputations ("risk").
_ADVISORY_LOCK = 0x7269736B
_BATCH = 500
# Beyond this many sites a fact is asked for everyone and filtered here: one query, not an IN
# list of thousands of codes.
_FILTER_HERE = 1000


def in_region(column: Any, code: str) -> Any:
    low, high = code_bounds(code)
    return and_(column >= low, column < high)


async def gather(
    session: AsyncSession,
    *,
    as_of: date,
    now: datetime,
    params: RiskParameters,
    region: str | None,
    owner_id: uuid.UUID | None = None,
) -> list[SiteInputs]:
    """Each site's inputs, from the facts every domain provides."""
    sites: dict[uuid.UUID, SiteInputs] = {}
    for fact in await facts.site_instrument_facts(session, as_of=as_of, region=region):
        if owner_id is not None and fact.owner_id != owner_id:
            continue
        site = sites.get(fact.owner_id)
        if site is None:
            site = sites[fact.owner_id] = SiteInputs(
                owner_id=str(fact.owner_id),
                owner_name=fact.owner_name,
                owner_uscc=fact.owner_uscc,
                region_code=fact.region_code,
            )
        site.instruments.append(
            {
                "category_code": fact.category_code,
                "usage_area": fact.usage_area,
                "state": fact.state,
                "count": fact.count,
            }
        )
    finding_since = now - timedelta(days=params.finding_window_days)
    for f in await facts.inspection_finding_facts(session, since=finding_since, region=region):
        if (site := sites.get(f.owner_id)) is not None:
            site.findings.append(
                {
                    "inspection_id": str(f.inspection_id),
                    "inspected_at": f.inspected_at.isoformat(),
                    "follow_up": f.follow_up,
                }
            )
    for site in sites.values():
        site.findings.sort(key=lambda f: (f["inspected_at"], f["inspection_id"]))
    # An enterprise may have several owner sites under one credit code: its facts are each one's.
    by_uscc: dict[str, list[SiteInputs]] = {}
    for s in sites.values():
        if s.owner_uscc:
            by_uscc.setdefault(s.owner_uscc, []).append(s)
    if not by_uscc:
        return list(sites.values())
    usccs: list[str] | None = sorted(by_uscc) if len(by_uscc) <= _FILTER_HERE else None
    since = now - timedelta(days=params.complaint_window_days)
    for c in await facts.complaint_facts(session, since=since, usccs=usccs):
        for site in by_uscc.get(c.business_uscc, []):
            site.complaints.append(
                {"tracking_number": c.tracking_number, "concluded_at": c.concluded_at.isoformat()}
            )
    for p in await facts.penalty_facts(session, as_of=as_of, usccs=usccs):
        for site in by_uscc.get(p.party_uscc, []):
            site.penalties.append(
                {
                    "decision_number": p.decision_number,
                    "penalty_kind": p.penalty_kind,
                    "decided_on": p.decided_on.isoformat(),
                }
            )
    for g in await facts.credit_grade_facts(session, as_of=as_of, usccs=usccs):
        for site in by_uscc.get(g.uscc, []):
            site.credit.append({"grade": g.grade, "association_id": str(g.association_id)})
    if params.listing_points is not None:
        # Asked only by a version that scores it: a version 1 score's inputs stay as they were.
        for entry in await facts.lists_entered(session, as_of=as_of, usccs=usccs):
            for site in by_uscc.get(entry.party_uscc, []):
                site.dishonesty_list.append(
                    {
                        "notice_id": str(entry.notice_id),
                        "decision_number": entry.decision_number,
                        "entered_on": entry.entered_on.isoformat(),
                        "listed_until": entry.listed_until.isoformat(),
                        "url": entry.url,
                    }
                )
    for site in sites.values():
        # A stable order, so equal facts give equal stored inputs.
        site.instruments.sort(key=lambda i: (i["category_code"], i["usage_area"], i["state"]))
        site.complaints.sort(key=lambda c: c["tracking_number"])
        site.penalties.sort(key=lambda p: p["decision_number"])
        site.credit.sort(key=lambda g: (g["association_id"], g["grade"]))
        site.dishonesty_list.sort(key=lambda e: (e["entered_on"], e["decision_number"]))
    return list(sites.values())


@dataclass(frozen=True)
class Recomputed:
    model_version: int
    as_of: date
    sites: int


def score_rows(
    sites: list[SiteInputs], *, params: RiskParameters, version: int, as_of: date, now: datetime
) -> list[dict[str, Any]]:
    """The rows to store for ``sites`` (pure: the bench times it apart from the queries)."""
    rows = []
    for site in sites:
        scored = score_site(params, site)
        categories = sorted({i["category_code"] for i in site.instruments})
        areas = sorted({i["usage_area"] for i in site.instruments})
        rows.append(
            {
                "id": uuid.uuid4(),
                "owner_id": uuid.UUID(site.owner_id),
                "owner_name": site.owner_name,
                "owner_uscc": site.owner_uscc,
                "region_code": site.region_code,
                "model_version": version,
                "score": scored.score,
                "band": scored.band,
                "categories": ("," + ",".join(categories) + ",")[:2000],
                "usage_areas": ("," + ",".join(areas) + ",")[:100],
                "instruments": sum(i["count"] for i in site.instruments),
                "inputs": jsonable(site.as_json()),
                "breakdown": scored.breakdown,
                "as_of": as_of,
                "computed_at": now,
                "current": True,
            }
        )
    return rows


async def recompute(
    session: AsyncSession, *, region: str | None, owner_id: uuid.UUID | None = None
) -> Recomputed:
    """Score every site of ``region`` (None: everywhere) or the one site ``owner_id`` with the
    current model version; the new scores become current, the old ones stay as they were."""
    if session.get_bind().dialect.name == "postgresql":
        # One recomputation at a time (SQLite serialises writers already): two at once both
        # marked the old scores not current and both inserted new ones, and the second to
        # commit failed on the one-current-score index (a 409 for a bureau's harmless
        # double click). Held to the end of the transaction; the second then reads and writes
        # after the first.
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
    now, as_of = clock.now(), clock.today()
    model, params = await risk_models.current(session)
    sites = await gather(
        session, as_of=as_of, now=now, params=params, region=region, owner_id=owner_id
    )
    rows = score_rows(sites, params=params, version=model.version, as_of=as_of, now=now)
    # What was current in the scope stops being so, including sites that are no longer sites
    # (every registration retired or rejected): they leave the list rather than stay stale.
    scope: list[Any] = [col(RiskScore.current).is_(True)]
    if owner_id is not None:
        scope.append(col(RiskScore.owner_id) == owner_id)
    elif region is not None:
        scope.append(in_region(col(RiskScore.region_code), region))
    await session.execute(update(RiskScore).where(*scope).values(current=False))
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start : start + _BATCH]
        if owner_id is None and region is not None:
            # A site that moved here from another region: its score there is not current either.
            await session.execute(
                update(RiskScore)
                .where(
                    col(RiskScore.current).is_(True),
                    col(RiskScore.owner_id).in_([r["owner_id"] for r in chunk]),
                )
                .values(current=False)
            )
        await session.execute(insert(RiskScore), chunk)
    await session.flush()
    return Recomputed(model_version=model.version, as_of=as_of, sites=len(rows))


async def recompute_region(session: AsyncSession, *, actor: User, region: str | None) -> Recomputed:
    code = region or actor.region_code or ""
    await get_region(session, code)
    authorize(actor, Action.risk_view, region_code=code)
    return await recompute(session, region=code)


async def _owner(session: AsyncSession, owner_id: uuid.UUID) -> Organization:
    org = await session.get(Organization, owner_id)
    if org is None or org.kind != OrganizationKind.owner:
        raise SiteNotFound()
    return org


async def recompute_site(session: AsyncSession, *, actor: User, owner_id: uuid.UUID) -> RiskScore:
    org = await _owner(session, owner_id)
    authorize(actor, Action.risk_view, region_code=org.region_code)
    await recompute(session, region=org.region_code, owner_id=owner_id)
    return await _current(session, owner_id)


async def _current(session: AsyncSession, owner_id: uuid.UUID) -> RiskScore:
    found = (
        await session.execute(
            select(RiskScore).where(
                col(RiskScore.owner_id) == owner_id, col(RiskScore.current).is_(True)
            )
        )
    ).scalar_one_or_none()
    if found is None:
        raise RiskScoreNotFound()
    return found


async def site_scores(
    session: AsyncSession, *, actor: User, owner_id: uuid.UUID
) -> list[RiskScore]:
    """A site's scores, newest first (the first is current)."""
    org = await _owner(session, owner_id)
    authorize(actor, Action.risk_view, region_code=org.region_code)
    found = list(
        (
            await session.execute(
                select(RiskScore)
                .where(col(RiskScore.owner_id) == owner_id)
                .order_by(col(RiskScore.current).desc(), col(RiskScore.computed_at).desc())
                .limit(50)
            )
        )
        .scalars()
        .all()
    )
    if not found or not found[0].current:
        # No current score: never scored, or no longer a site (no active registration).
        raise RiskScoreNotFound()
    return found


async def district_codes(session: AsyncSession, *, region: str, name: str) -> list[str]:
    """The codes of the divisions in ``region`` (itself included) called ``name`` (秦都区, or the
    full name 陕西省咸阳市秦都区); none is a 422 (district_not_found), not an empty list that
    reads as "no risk here"."""
    name = name.strip()
    found = list(
        await session.scalars(
            select(col(Region.code))
            .where(
                in_region(col(Region.code), region),
                or_(col(Region.name) == name, col(Region.full_name) == name),
            )
            .order_by(col(Region.code))
        )
    )
    if not found:
        raise DistrictNotFound(
            f"No district called {name} in region {region}.",
            detail_zh=f"辖区（{region}）内没有名为「{name}」的区县。",
        )
    return found


def _filters(
    region: str,
    district: str | None,
    category: str | None,
    band: str | None,
    named: list[str] | None = None,
) -> list[Any]:
    where = [col(RiskScore.current).is_(True), in_region(col(RiskScore.region_code), region)]
    if district:
        where.append(in_region(col(RiskScore.region_code), district))
    if named:
        where.append(or_(*(in_region(col(RiskScore.region_code), c) for c in named)))
    if category:
        # Catalogue codes are letters, digits and '-': no LIKE wildcard gets through the schema.
        where.append(col(RiskScore.categories).like(f"%,{category},%"))
    if band:
        where.append(col(RiskScore.band) == band)
    return where


async def check_region(session: AsyncSession, actor: User, region: str | None) -> str:
    code = region or actor.region_code or ""
    await get_region(session, code)
    authorize(actor, Action.risk_view, region_code=code)
    return code


async def list_scores(
    session: AsyncSession,
    *,
    actor: User,
    region: str | None,
    district: str | None,
    category: str | None,
    band: str | None,
    page: PageRequest,
    district_name: str | None = None,
) -> tuple[list[RiskScore], int]:
    """The region's current scores, highest first (then by name and id: a stable paging);
    ``district`` by code, ``district_name`` by name (both: both apply)."""
    code = await check_region(session, actor, region)
    if district:
        authorize(actor, Action.risk_view, region_code=district)
    named = (
        await district_codes(session, region=code, name=district_name) if district_name else None
    )
    where = _filters(code, district, category, band, named)
    total = (
        await session.execute(select(func.count()).select_from(RiskScore).where(*where))
    ).scalar_one()
    rows = (
        await session.execute(
            select(RiskScore)
            .where(*where)
            .order_by(
                col(RiskScore.score).desc(), col(RiskScore.owner_name), col(RiskScore.owner_id)
            )
            .offset(page.offset)
            .limit(page.limit)
        )
    ).scalars()
    return list(rows.all()), int(total)


@dataclass(frozen=True)
class DistrictBands:
    region_code: str
    region_name: str
    high: int
    medium: int
    low: int

    @property
    def total(self) -> int:
        return self.high + self.medium + self.low


async def by_district(
    session: AsyncSession, *, actor: User, region: str | None, category: str | None = None
) -> list[DistrictBands]:
    """The region's current scores counted by district and band (one GROUP BY)."""
    code = await check_region(session, actor, region)
    rows = (
        await session.execute(
            select(col(RiskScore.region_code), col(RiskScore.band), func.count())
            .where(*_filters(code, None, category, None))
            .group_by(col(RiskScore.region_code), col(RiskScore.band))
        )
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for district, band, n in rows:
        counts.setdefault(district, {})[band] = int(n)
    named = await session.execute(
        select(col(Region.code), col(Region.name)).where(col(Region.code).in_(list(counts)))
    )
    names: dict[str, str] = {row[0]: row[1] for row in named.all()}
    result = [
        DistrictBands(
            region_code=d,
            region_name=names.get(d, d),
            high=c.get("high", 0),
            medium=c.get("medium", 0),
            low=c.get("low", 0),
        )
        for d, c in counts.items()
    ]
    result.sort(key=lambda d: (-d.high, -d.total, d.region_code))
    return result
