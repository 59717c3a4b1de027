"""Inspections in the field (移动执法终端): the drawn sites of a campaign become inspections at the
draw; each drawn inspector (their 执法证号 tied to their account) sees their own on a phone and
records, once, a check of every registered instrument of the site, photos from the one photo
intake, and the owner's signature or refusal. A failed check is a finding: the follow-up is
recorded (责令改正 or 立案查处), the finding is a fact for the next risk score (facts.py), and the
result is public a set number of working days after the inspection (一公开, results.py).

Who may read and record one inspection: its drawn inspectors, and the bureau whose region covers
the campaign's (``inspection_manage`` there: the bureau that drew it and those above); not the
site's own district office, which the draw keeps away from its sites; anyone else gets the region
rule's 403."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from enforcement import follow_ups
from enforcement.errors import (
    AccountNotFound,
    BadgeTaken,
    ChecksIncomplete,
    IdempotencyKeyReused,
    InspectionNotFound,
    InspectionRecorded,
    PhotoNotFound,
    SignatoryMissing,
)
from enforcement.models import (
    Inspection,
    InspectionCampaign,
    InspectionStatus,
    Inspector,
)
from enforcement.schemas import InspectionResultCreate
from enforcement.scores import in_region
from enforcement.settings import EnforcementSettings
from portal import clock, facts, workdays
from portal.accounts.models import Organization, Role, User
from portal.accounts.permissions import Action, authorize
from portal.audit import service as audit
from portal.pagination import PageRequest
from portal.regions.models import Region
from portal.regions.service import covers

# Verification states (the regional statistics' names) in which the certificate is current.
CURRENT_STATES = frozenset({"valid", "expiring", "not_due"})
STATE_ZH = {
    "valid": "有效",
    "expiring": "即将到期",
    "not_due": "未到首检期",
    "expired": "已过期",
    "replace": "到期应更换",
    "none": "未检定",
    "failed": "检定不合格",
    "revoked": "证书已撤销",
}
FOLLOW_UP_ZH = {"none": "无", "correct": "责令改正", "penalty_case": "立案查处"}


def holder(inspection_id: uuid.UUID) -> str:
    """How an inspection names itself when it holds photos (portal/facts.py ``hold_photos``)."""
    return f"enforcement_inspection:{inspection_id}"


async def assign(session: AsyncSession, campaign: InspectionCampaign) -> None:
    """One inspection per drawn site, with the site as the campaign published it."""
    published = {c["id"]: c for c in campaign.candidates}
    for drawn in campaign.result or []:
        site = published[drawn["id"]]
        session.add(
            Inspection(
                campaign_id=campaign.id,
                region_code=campaign.region_code,
                site_id=uuid.UUID(drawn["id"]),
                site_name=site["name"],
                district=site["district"],
                inspectors=list(drawn["inspectors"]),
            )
        )
    await session.flush()


async def tie_badge(
    session: AsyncSession, *, badge: str, user_id: uuid.UUID, actor: User
) -> Inspector:
    """Tie a 执法证号 to a regulator account of the actor's region (again: the same answer)."""
    user = await session.get(User, user_id)
    if user is None or user.role is not Role.regulator or user.region_code is None:
        raise AccountNotFound()
    authorize(actor, Action.inspection_manage, region_code=user.region_code)
    found = await session.get(Inspector, badge)
    if found is not None and found.user_id == user_id:
        return found
    if found is not None:
        raise BadgeTaken()
    # Inserted unless the badge or the account is tied already, meanwhile too: two ties sent at
    # once (a double click, two clerks) both read "free", and the second was the unique
    # column's bare conflict instead of this answer again or badge_taken.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    added = await session.execute(
        insert(Inspector)
        .values(badge=badge, user_id=user_id, created_by=actor.id, created_at=clock.now())
        .on_conflict_do_nothing()
        .returning(col(Inspector.badge))
    )
    if added.scalar_one_or_none() is None:
        found = await session.get(Inspector, badge, populate_existing=True)
        if found is not None and found.user_id == user_id:
            return found
        raise BadgeTaken()
    inspector = await session.get(Inspector, badge, populate_existing=True)
    assert inspector is not None  # inserted just now
    await audit.record(
        session,
        actor=actor,
        action="enforcement.inspector.tie",
        entity_type="inspector",
        entity_id=badge,
        region_code=user.region_code,
        after={"user_id": str(user_id)},
    )
    return inspector


async def badge_of(session: AsyncSession, user: User) -> str | None:
    found: str | None = await session.scalar(
        select(col(Inspector.badge)).where(col(Inspector.user_id) == user.id)
    )
    return found


def _assigned_to(session: AsyncSession, badge: str) -> Any:
    # The pairing's badges are a JSON list; a badge is letters, digits and '-' (the schema), so
    # no wildcard reaches the pattern, and the quotes match whole badges only. SQLite's LIKE
    # ignores ASCII case (a badge "zf-001" would list the pairings of "ZF-001"), its GLOB does not.
    listed = cast(col(Inspection.inspectors), String)
    if session.get_bind().dialect.name == "sqlite":
        return listed.op("GLOB")(f'*"{badge}"*')
    return listed.like(f'%"{badge}"%')


async def _pooled_campaigns(
    session: AsyncSession, actor: User, badge: str, campaign_ids: set[uuid.UUID]
) -> set[uuid.UUID]:
    """Of these campaigns, those whose pool puts ``badge`` in a district the actor's account
    lies in. Badges are one namespace for the whole country and any bureau ties them to its own
    accounts: another region's bureau, or the drawn site's own district office (which the draw
    keeps away from it), tying a badge drawn here to one of its accounts ties it to an account
    outside the district the campaign published for that inspector, and opens nothing."""
    if not campaign_ids or not actor.region_code:
        return set()
    rows = await session.execute(
        select(col(InspectionCampaign.id), col(InspectionCampaign.inspectors)).where(
            col(InspectionCampaign.id).in_(campaign_ids)
        )
    )
    return {
        campaign_id
        for campaign_id, pool in rows.all()
        if any(i["id"] == badge and covers(i["district"], actor.region_code) for i in pool)
    }


async def _may_access(session: AsyncSession, actor: User, inspection: Inspection) -> None:
    badge = await badge_of(session, actor)
    if badge is not None and badge in inspection.inspectors:
        pooled = await _pooled_campaigns(session, actor, badge, {inspection.campaign_id})
        if pooled:
            return
    authorize(actor, Action.inspection_manage, region_code=inspection.region_code)


async def get(session: AsyncSession, inspection_id: uuid.UUID, *, actor: User) -> Inspection:
    inspection = await session.get(Inspection, inspection_id)
    if inspection is None:
        raise InspectionNotFound()
    await _may_access(session, actor, inspection)
    return inspection


@dataclass(frozen=True)
class Listed:
    inspection: Inspection
    campaign_title: str


async def list_for(
    session: AsyncSession,
    *,
    actor: User,
    mine: bool,
    campaign_id: uuid.UUID | None,
    page: PageRequest,
) -> tuple[list[Listed], int]:
    """``mine``: the actor's own (as a drawn inspector), to do first, then the latest done;
    otherwise those of the actor's region (a supervisor's view)."""
    where: list[Any] = []
    if mine:
        badge = await badge_of(session, actor)
        if badge is None:
            return [], 0
        where.append(_assigned_to(session, badge))
        drawn_in = set(
            (
                await session.execute(select(col(Inspection.campaign_id)).where(*where).distinct())
            ).scalars()
        )
        where.append(
            col(Inspection.campaign_id).in_(
                await _pooled_campaigns(session, actor, badge, drawn_in)
            )
        )
    elif actor.role is not Role.admin:
        authorize(actor, Action.inspection_manage, region_code=actor.region_code or "")
        where.append(in_region(col(Inspection.region_code), actor.region_code or ""))
    if campaign_id is not None:
        where.append(col(Inspection.campaign_id) == campaign_id)
    total = (
        await session.execute(select(func.count()).select_from(Inspection).where(*where))
    ).scalar_one()
    rows = await session.execute(
        select(Inspection, col(InspectionCampaign.title))
        .join(InspectionCampaign, col(InspectionCampaign.id) == col(Inspection.campaign_id))
        .where(*where)
        .order_by(
            # To do first; then the most recently inspected.
            (col(Inspection.status) == InspectionStatus.done).asc(),
            col(Inspection.inspected_at).desc(),
            col(Inspection.site_name),
            col(Inspection.id),
        )
        .offset(page.offset)
        .limit(page.limit)
    )
    return [Listed(r[0], r[1]) for r in rows.all()], int(total)


@dataclass(frozen=True)
class SiteCard:
    """Where an inspector goes: the site's own name (not the published, masked one), its
    address and its district's name."""

    name: str
    address: str
    district: str


async def site_cards(
    session: AsyncSession, inspections: Sequence[Inspection]
) -> dict[uuid.UUID, SiteCard]:
    """The site of each inspection, by inspection id, for the staff who may read them."""
    site_ids = {i.site_id for i in inspections}
    if not site_ids:
        return {}
    rows = await session.execute(
        select(
            col(Organization.id),
            col(Organization.name),
            col(Organization.address),
            col(Region.name),
        )
        .join(Region, col(Region.code) == col(Organization.region_code))
        .where(col(Organization.id).in_(site_ids))
    )
    found = {r[0]: SiteCard(r[1], r[2] or "", r[3]) for r in rows.all()}
    return {i.id: found[i.site_id] for i in inspections if i.site_id in found}


async def campaign_title(session: AsyncSession, inspection: Inspection) -> str:
    title: str = (
        await session.execute(
            select(col(InspectionCampaign.title)).where(
                col(InspectionCampaign.id) == inspection.campaign_id
            )
        )
    ).scalar_one()
    return title


async def instruments(session: AsyncSession, inspection: Inspection) -> list[facts.SiteInstrument]:
    return await facts.site_instruments(session, owner_id=inspection.site_id, as_of=clock.today())


def _digest(data: InspectionResultCreate) -> str:
    return hashlib.sha256(data.model_dump_json().encode("utf-8")).hexdigest()


def _category_names() -> dict[str, str]:
    try:
        return {c.code: c.name for c in facts.instrument_categories()}
    except LookupError:  # no domain provides the catalogue
        return {}


async def _lookup(session: AsyncSession, scanned: str) -> facts.InstrumentRef | None:
    """What a scan names: a QR code gives the sticker's URL or token, a typed text is usually a
    certificate number; each is tried as the other too (a token typed, a number scanned)."""
    as_token = {"sticker_token": scanned, "certificate_number": None}
    as_number = {"sticker_token": None, "certificate_number": scanned}
    looks_like_sticker = "/" in scanned or "." in scanned
    for asked in (as_token, as_number) if looks_like_sticker else (as_number, as_token):
        found = await facts.scanned_instrument(session, **asked)
        if found is not None:
            return found
    return None


async def _checks(
    session: AsyncSession, data: InspectionResultCreate, found: Sequence[facts.SiteInstrument]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each check with what the server looked up (the scanned sticker or certificate number
    against the registry), and the findings in words."""
    by_id = {i.registration_id: i for i in found}
    given = [c.registration_id for c in data.checks]
    if sorted(given) != sorted(by_id) or len(set(given)) != len(given):
        raise ChecksIncomplete(
            f"{len(by_id)} instruments registered, {len(given)} checks given.",
            detail_zh=f"该单位登记在用的计量器具 {len(by_id)} 台，提交的检查记录 {len(given)} 份。",
        )
    names = _category_names()
    checks, findings = [], []
    for check in data.checks:
        instrument = by_id[check.registration_id]
        scanned = check.scanned.strip()
        if not scanned:
            scan = "not_scanned"
        else:
            ref = await _lookup(session, scanned)
            if ref is None:
                scan = "unknown"
            elif ref.instrument_id == instrument.registry_instrument_id:
                scan = "matched"
            else:
                scan = "other_instrument"
        current = instrument.state in CURRENT_STATES
        problems = []
        if not check.sticker_present:
            problems.append("未见检定合格标志")
        if scan in ("unknown", "other_instrument"):
            problems.append("标志与该器具的检定证书不符")
        if not current:
            problems.append(f"检定证书{STATE_ZH.get(instrument.state, '无效')}")
        if not check.seal_intact:
            problems.append("封印破损")
        if not check.reading_ok:
            problems.append("示值核查不符")
        if problems:
            label = names.get(instrument.category_code, instrument.category_code)
            findings.append(f"{label}（出厂编号 {instrument.serial}）：{'、'.join(problems)}")
        checks.append(
            {
                "registration_id": str(instrument.registration_id),
                "category_code": instrument.category_code,
                "serial": instrument.serial,
                "sticker_present": check.sticker_present,
                "scanned": scanned,
                "scan": scan,
                "certificate_current": current,
                "seal_intact": check.seal_intact,
                "reading_ok": check.reading_ok,
                "passed": not problems,
                "note": check.note,
            }
        )
    return checks, findings


async def record(
    session: AsyncSession,
    inspection_id: uuid.UUID,
    data: InspectionResultCreate,
    *,
    key: uuid.UUID,
    actor: User,
    settings: EnforcementSettings,
    at: datetime | None = None,
) -> Inspection:
    """Record the result once. The same ``key`` with the same body answers the record made
    (a phone that lost the answer retries); another key, or the key with another body, is a
    409 and changes nothing. ``at`` is the inspection's time (the demo's past inspections)."""
    inspection = await get(session, inspection_id, actor=actor)
    digest = _digest(data)
    if inspection.status == InspectionStatus.done:
        if inspection.idempotency_key == key:
            if inspection.request_digest != digest:
                raise IdempotencyKeyReused()
            return inspection
        raise InspectionRecorded()
    # A key names one submission: the phone's stored key sent with another inspection's form
    # is that mistake, told as such (the unique key would otherwise refuse it as a bare conflict).
    elsewhere = await session.scalar(
        select(col(Inspection.id)).where(
            col(Inspection.idempotency_key) == key, col(Inspection.id) != inspection.id
        )
    )
    if elsewhere is not None:
        raise IdempotencyKeyReused()
    if data.acknowledgement == "signed" and not data.signatory.strip():
        raise SignatoryMissing()
    checks, findings = await _checks(session, data, await instruments(session, inspection))
    if len(set(data.photos)) != len(data.photos):
        # Held once, it would be listed (and its links signed) twice.
        raise PhotoNotFound("A photo is listed twice.", detail_zh="照片重复。")
    if data.photos:
        held = await facts.hold_photos(
            session, media_ids=data.photos, uploader_id=actor.id, holder=holder(inspection.id)
        )
        if set(held) != set(data.photos):
            raise PhotoNotFound()
    failed = bool(findings)
    moment = at or clock.now()
    publish_on = workdays.add_working_days(
        clock.local_date(moment), settings.enforcement_publish_working_days
    )
    summary = "；".join(findings)
    if len(summary) > 500:
        summary = summary[:497] + "……"
    # Only the transaction that moves it from assigned records it: two phones submitting at
    # once (or SQLite, where nothing locks the row read above) cannot both write.
    try:
        claimed = await session.execute(
            update(Inspection)
            .where(
                col(Inspection.id) == inspection.id,
                col(Inspection.status) == InspectionStatus.assigned,
            )
            .values(
                status=InspectionStatus.done,
                outcome="failed" if failed else "passed",
                checks=checks,
                photos=[str(p) for p in data.photos],
                acknowledgement=data.acknowledgement,
                signatory=data.signatory.strip(),
                note=data.note,
                findings=summary,
                follow_up=data.follow_up if failed else "none",
                idempotency_key=key,
                request_digest=digest,
                submitted_by=actor.id,
                inspected_at=moment,
                publish_on=publish_on,
            )
            .execution_options(synchronize_session=False)
        )
    except IntegrityError:
        # The one unique value written here is the key: another inspection's submission took
        # it after the check above read it free (the same phone sending two sites' forms at
        # once). The same mistake as that check's, told as such, not as a bare conflict.
        raise IdempotencyKeyReused() from None
    await session.refresh(inspection)
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        # Recorded meanwhile: by this very submission's retry (the same answer), or not.
        if inspection.idempotency_key == key and inspection.request_digest == digest:
            return inspection
        raise InspectionRecorded()
    await audit.record(
        session,
        actor=actor,
        action="enforcement.inspection.record",
        entity_type="inspection",
        entity_id=inspection.id,
        region_code=inspection.region_code,
        after={
            "outcome": inspection.outcome,
            "follow_up": inspection.follow_up,
            "findings": summary,
            "publish_on": publish_on.isoformat(),
        },
    )
    await follow_ups.open_for(session, inspection, actor=actor, settings=settings)
    return inspection
