"""The credit evaluation rules: membership, methodologies, runs, 公示 and objections, publication,
reviews, replies, expiry, and the public views. Services flush, never commit (CONTRIBUTING.md).

Every step appends a signed event to the ledger (credit/ledger.py) in the same transaction as the
change, and the current grades (``credit_rating``) are folded from those events by ``project`` —
the same function ``rebuild_ratings`` uses to recompute them from the ledger alone.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from stdnum.cn import uscc as uscc_number
from stdnum.exceptions import ValidationError as StdnumValidationError

from credit import errors
from credit.ledger import Actor, LedgerWriter, canonical_hash, sha256_hex
from credit.models import (
    Enterprise,
    IndicatorEntry,
    LedgerEvent,
    Membership,
    Methodology,
    Objection,
    ObjectionStatus,
    Rating,
    RatingStatus,
    ReviewFlag,
    Run,
    RunStatus,
    Score,
)
from credit.schemas import (
    EnterpriseCreate,
    IndicatorValues,
    MethodologyCreate,
    ObjectionCreate,
    ObjectionDecision,
    ReplyCreate,
    ReviewCreate,
    RunCreate,
)
from credit.scoring import (
    GRADES,
    EnterpriseScore,
    Method,
    penalty_points,
    score_all,
)
from portal import clock, facts, workdays
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.accounts.permissions import Action, OrganizationForbidden, authorize
from portal.accounts.service import get_organization_by_code
from portal.audit import service as audit
from portal.clock import SHANGHAI
from portal.db import utcnow
from portal.errors import InvalidInput
from portal.regions.service import get_region, significant_prefix
from portal.settings import Settings
from portal.signing import SigningKey, load_signing_key

DEFAULT_METHODOLOGY_FILE = Path(__file__).parent / "methodologies" / "metrology-integrity-v1.json"
# Above this many enterprises the providers are asked for every enterprise (usccs=None) and the
# scoring ignores the others: a 100,000-item IN list is slower than a scan and exceeds the bound
# parameter limits of SQLite and asyncpg.
FACTS_IN_LIMIT = 2000
INSERT_CHUNK = 2000


# --- small helpers -----------------------------------------------------------------------------


def validate_uscc(value: str) -> str:
    """The code in its canonical form (upper case, no separators), or 422 ``invalid_uscc``."""
    try:
        return str(uscc_number.validate(value))
    except StdnumValidationError as exc:
        raise errors.InvalidUscc(
            f"{value!r} is not a valid unified social credit code ({exc}).",
            detail_zh=f"“{value}”不是有效的统一社会信用代码（18 位，末位为校验码）。",
        ) from exc


def local_date(moment: datetime) -> date:
    return clock.local_date(moment)


def notice_closes_at(opened_at: datetime, working_days: int) -> datetime:
    """The 公示 runs for ``working_days`` full working days after the day it opens and ends at
    midnight (Beijing time) after the last of them."""
    if working_days <= 0:
        return opened_at
    day = local_date(opened_at)
    counted = 0
    while counted < working_days:
        day += timedelta(days=1)
        counted += workdays.is_working_day(day)
    return datetime.combine(day + timedelta(days=1), time(0), SHANGHAI).astimezone(UTC)


def validity_end(valid_from: date, years: int) -> date:
    return clock.add_years(valid_from, years) - timedelta(days=1)


def signing_key(settings: Settings) -> SigningKey:
    return load_signing_key(settings.signing_key_file)


def association_ref(org: Organization) -> dict[str, str]:
    return {"id": str(org.id), "code": org.code, "name": org.name}


def methodology_ref(m: Methodology) -> dict[str, Any]:
    return {"code": m.code, "version": m.version, "hash": m.definition_hash}


def grade_rank(grade: str) -> int:
    return GRADES.index(grade)


async def acting_association(
    session: AsyncSession, actor: User, code: str | None = None
) -> Organization:
    """The association the actor works for: their own; an administrator names one by code."""
    org: Organization | None
    if actor.role is Role.admin:
        if not code:
            raise errors.AssociationRequired(
                "Pass ?association=<code> to act for an association.",
                detail_zh="管理员操作时请用 ?association=<协会代码> 指定协会。",
            )
        org = await get_organization_by_code(session, code)
    else:
        org = (
            await session.get(Organization, actor.organization_id)
            if actor.organization_id
            else None
        )
        if org is None:
            raise errors.NotAnAssociation()
        if code and code != org.code:
            raise OrganizationForbidden()
    if org.kind is not OrganizationKind.association:
        raise errors.NotAnAssociation()
    authorize(actor, Action.credit_manage, organization_id=org.id)
    return org


# --- methodologies ---------------------------------------------------------------------------


async def ensure_default_methodology(session: AsyncSession) -> Methodology:
    data = json.loads(DEFAULT_METHODOLOGY_FILE.read_text(encoding="utf-8"))
    query = select(Methodology).where(
        Methodology.code == data["code"], Methodology.version == data["version"]
    )
    row = await session.scalar(query)
    if row is not None:
        return row
    row = Methodology(
        code=data["code"],
        version=data["version"],
        name=data["name"],
        association_id=None,
        definition=data["definition"],
        definition_hash=canonical_hash(data["definition"]),
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:  # seeded concurrently by another request
        found = await session.scalar(query)
        assert found is not None
        return found
    return row


async def methodology_for(session: AsyncSession, association: Organization) -> Methodology:
    """The association's own latest methodology, else the platform default's latest version."""
    await ensure_default_methodology(session)
    own = await session.scalar(
        select(Methodology)
        .where(Methodology.association_id == association.id)
        .order_by(col(Methodology.version).desc())
        .limit(1)
    )
    if own is not None:
        return own
    default = await session.scalar(
        select(Methodology)
        .where(col(Methodology.association_id).is_(None))
        .order_by(col(Methodology.version).desc(), col(Methodology.created_at).desc())
        .limit(1)
    )
    assert default is not None
    return default


async def list_methodologies(session: AsyncSession) -> list[Methodology]:
    await ensure_default_methodology(session)
    return list(
        (
            await session.scalars(
                select(Methodology).order_by(col(Methodology.code), col(Methodology.version))
            )
        ).all()
    )


async def get_methodology(session: AsyncSession, methodology_id: uuid.UUID) -> Methodology:
    row = await session.get(Methodology, methodology_id)
    if row is None:
        raise errors.MethodologyNotFound()
    return row


async def create_methodology(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    data: MethodologyCreate,
    settings: Settings,
    now: datetime | None = None,
) -> Methodology:
    """A new version of the association's own methodology. Earlier versions are untouched, and
    so is every score already published under them."""
    now = now or utcnow()
    code = f"{association.code.lower()}-metrology-integrity"
    latest = await session.scalar(
        select(func.max(Methodology.version)).where(Methodology.code == code)
    )
    definition = data.definition.model_dump(mode="json")
    definition["grades"] = [list(g) for g in definition["grades"]]
    row = Methodology(
        code=code,
        version=int(latest or 0) + 1,
        name=data.name,
        association_id=association.id,
        definition=definition,
        definition_hash=canonical_hash(definition),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    await LedgerWriter(session, signing_key(settings)).append(
        "methodology.published",
        actor=Actor.of(actor),
        at=now,
        association=association_ref(association),
        methodology=methodology_ref(row),
        payload={"methodology_id": str(row.id), "name": row.name, "definition": definition},
    )
    await audit.record(
        session,
        actor=actor,
        action="credit.methodology.create",
        entity_type="credit_methodology",
        entity_id=row.id,
        region_code=association.region_code,
        after={"code": code, "version": row.version, "hash": row.definition_hash},
    )
    return row


# --- members and association-entered indicators ---------------------------------------------


async def get_enterprise(session: AsyncSession, uscc: str) -> Enterprise:
    code = validate_uscc(uscc)
    enterprise = await session.get(Enterprise, code)
    if enterprise is None:
        raise errors.EnterpriseNotFound(
            f"No enterprise with code {code}.",
            detail_zh=f"未找到统一社会信用代码为 {code} 的企业。",
        )
    return enterprise


async def _membership(
    session: AsyncSession, association: Organization, uscc: str
) -> Membership | None:
    return await session.scalar(
        select(Membership).where(
            Membership.association_id == association.id, Membership.uscc == uscc
        )
    )


async def require_member(session: AsyncSession, association: Organization, uscc: str) -> str:
    code = validate_uscc(uscc)
    membership = await _membership(session, association, code)
    if membership is None or membership.left_on is not None:
        raise errors.NotAMember(
            f"{code} is not a member of {association.code}.",
            detail_zh=f"企业 {code} 不是{association.name}的会员。",
        )
    return code


async def add_member(
    session: AsyncSession,
    *,
    actor: User | None,
    association: Organization,
    data: EnterpriseCreate,
    now: datetime | None = None,
) -> tuple[Enterprise, Membership]:
    now = now or utcnow()
    code = validate_uscc(data.uscc)
    await get_region(session, data.region_code)
    enterprise = await session.get(Enterprise, code)
    before: dict[str, Any] | None = None
    if enterprise is None:
        enterprise = Enterprise(
            uscc=code,
            name=data.name.strip(),
            industry=data.industry or association.industry,
            region_code=data.region_code,
            address=data.address.strip(),
        )
        session.add(enterprise)
    # An enterprise already known (a member of another association) keeps its registered
    # details: one association must not rename another's member.
    membership = await _membership(session, association, code)
    if membership is not None and membership.left_on is None:
        raise errors.AlreadyAMember(detail_zh=f"企业 {code} 已是本协会会员。")
    joined = data.joined_on or local_date(now)
    if membership is None:
        membership = Membership(association_id=association.id, uscc=code, joined_on=joined)
        session.add(membership)
    else:
        membership.left_on = None
        membership.joined_on = joined
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="credit.member.add",
        entity_type="credit_enterprise",
        entity_id=code,
        region_code=enterprise.region_code,
        before=before,
        after={
            "association": association.code,
            "name": enterprise.name,
            "region_code": enterprise.region_code,
            "joined_on": joined,
        },
    )
    return enterprise, membership


async def remove_member(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    uscc: str,
    now: datetime | None = None,
) -> None:
    code = await require_member(session, association, uscc)
    membership = await _membership(session, association, code)
    assert membership is not None
    membership.left_on = local_date(now or utcnow())
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="credit.member.remove",
        entity_type="credit_enterprise",
        entity_id=code,
        region_code=association.region_code,
        after={"association": association.code, "left_on": membership.left_on},
    )


async def load_entries(
    session: AsyncSession, association_id: uuid.UUID, usccs: Sequence[str] | None = None
) -> dict[tuple[str, str], bool]:
    stmt = select(IndicatorEntry.uscc, IndicatorEntry.indicator, IndicatorEntry.value).where(
        IndicatorEntry.association_id == association_id
    )
    if usccs is not None:
        stmt = stmt.where(col(IndicatorEntry.uscc).in_(list(usccs)))
    return {(u, i): bool(v) for u, i, v in (await session.execute(stmt)).all()}


async def list_members(
    session: AsyncSession, association: Organization
) -> list[tuple[Enterprise, Membership, dict[str, bool]]]:
    rows = (
        await session.execute(
            select(Enterprise, Membership)
            .join(Membership, col(Membership.uscc) == col(Enterprise.uscc))
            .where(Membership.association_id == association.id, col(Membership.left_on).is_(None))
            .order_by(col(Enterprise.name))
        )
    ).all()
    entries = await load_entries(session, association.id)
    by_uscc: dict[str, dict[str, bool]] = defaultdict(dict)
    for (uscc, indicator), value in entries.items():
        by_uscc[uscc][indicator] = value
    return [(e, m, by_uscc.get(e.uscc, {})) for e, m in rows]


async def _write_entries(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    uscc: str,
    values: Mapping[str, bool],
    note: str,
    now: datetime,
) -> dict[str, Any]:
    method = await methodology_for(session, association)
    allowed = Method.from_definition(method.code, method.version, method.definition).entry_codes()
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise errors.UnknownIndicator(
            f"Unknown indicator(s): {', '.join(unknown)}; the association enters {', '.join(allowed)}.",
            detail_zh=f"未知指标：{'、'.join(unknown)}；协会可填报：{'、'.join(allowed)}。",
        )
    existing = {
        e.indicator: e
        for e in (
            await session.scalars(
                select(IndicatorEntry).where(
                    IndicatorEntry.association_id == association.id,
                    IndicatorEntry.uscc == uscc,
                )
            )
        ).all()
    }
    before = {k: e.value for k, e in existing.items() if k in values}
    for indicator, value in values.items():
        entry = existing.get(indicator)
        if entry is None:
            session.add(
                IndicatorEntry(
                    association_id=association.id,
                    uscc=uscc,
                    indicator=indicator,
                    value=value,
                    note=note,
                    entered_by=actor.id,
                    entered_at=now,
                )
            )
        else:
            entry.value = value
            entry.note = note
            entry.entered_by = actor.id
            entry.entered_at = now
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="credit.indicators.set",
        entity_type="credit_enterprise",
        entity_id=uscc,
        region_code=association.region_code,
        before=before,
        after={**dict(values), "note": note},
    )
    return dict(values)


async def set_indicators(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    uscc: str,
    data: IndicatorValues,
    now: datetime | None = None,
) -> dict[str, bool]:
    code = await require_member(session, association, uscc)
    await _write_entries(
        session,
        actor=actor,
        association=association,
        uscc=code,
        values=data.values,
        note=data.note,
        now=now or utcnow(),
    )
    entries = await load_entries(session, association.id, [code])
    return {indicator: value for (_, indicator), value in entries.items()}


# --- runs --------------------------------------------------------------------------------------


async def gather_facts(
    session: AsyncSession, method: Method, usccs: Sequence[str], as_of: date
) -> dict[str, Any]:
    """The platform facts for a run, through the cross-domain contract (portal/facts.py)."""
    wanted: Sequence[str] | None = list(usccs) if len(usccs) <= FACTS_IN_LIMIT else None
    window = int(method.param("complaint_rate", "window_days", 730))
    since = datetime.combine(as_of - timedelta(days=window), time(0), SHANGHAI).astimezone(UTC)
    return {
        "instruments": await facts.instrument_facts(session, as_of=as_of, usccs=wanted),
        "complaints": await facts.complaint_facts(session, since=since, usccs=wanted),
        "penalties": await facts.penalty_facts(session, as_of=as_of, usccs=wanted),
    }


def drafts_digest(rows: Iterable[tuple[str, Decimal, str, str]]) -> str:
    """Hash of a batch's scores: canonical JSON of sorted [uscc, score, grade, evidence_hash]."""
    return canonical_hash(sorted([u, str(s), g, h] for u, s, g, h in rows))


async def _run_digest(session: AsyncSession, run_id: uuid.UUID) -> str:
    rows = (
        await session.execute(
            select(
                col(Score.uscc), col(Score.score), col(Score.grade), col(Score.evidence_hash)
            ).where(Score.run_id == run_id)
        )
    ).all()
    return drafts_digest((u, Decimal(s), g, h) for u, s, g, h in rows)


async def start_run(
    session: AsyncSession,
    *,
    actor: User | None,
    association: Organization,
    data: RunCreate,
    settings: Settings,
    now: datetime | None = None,
) -> Run:
    """Score every current member in one pass and store the drafts with their breakdown."""
    now = now or utcnow()
    as_of = data.as_of or local_date(now)
    if as_of > local_date(now):
        raise InvalidInput(
            "The evaluation date is in the future.", detail_zh="评价基准日不能晚于今天。"
        )
    if data.methodology_id is not None:
        methodology = await get_methodology(session, data.methodology_id)
        if methodology.association_id not in (None, association.id):
            raise errors.MethodologyNotFound()
    else:
        methodology = await methodology_for(session, association)
    usccs = list(
        (
            await session.scalars(
                select(Membership.uscc).where(
                    Membership.association_id == association.id,
                    col(Membership.left_on).is_(None),
                    col(Membership.joined_on) <= as_of,
                )
            )
        ).all()
    )
    if not usccs:
        raise errors.NoMembers()
    method = Method.from_definition(methodology.code, methodology.version, methodology.definition)
    scores = score_all(
        method,
        usccs,
        as_of=as_of,
        entries=await load_entries(session, association.id),
        **await gather_facts(session, method, usccs, as_of),
    )
    run = Run(
        association_id=association.id,
        methodology_id=methodology.id,
        status=RunStatus.draft,
        as_of=as_of,
        title=data.title or f"{association.name} {as_of.year} 年度计量诚信评价",
        enterprise_count=len(scores),
        created_by=actor.id if actor else None,
        created_at=now,
    )
    session.add(run)
    await session.flush()
    await _insert_scores(session, run.id, scores.values())
    digest = drafts_digest((s.uscc, s.score, s.grade, s.evidence_hash) for s in scores.values())
    await LedgerWriter(session, signing_key(settings)).append(
        "run.started",
        actor=Actor.of(actor),
        at=now,
        association=association_ref(association),
        run_id=run.id,
        methodology=methodology_ref(methodology),
        evidence_hash=digest,
        payload={
            "title": run.title,
            "as_of": as_of.isoformat(),
            "enterprise_count": len(scores),
            "drafts_hash": digest,
        },
    )
    await audit.record(
        session,
        actor=actor,
        action="credit.run.start",
        entity_type="credit_run",
        entity_id=run.id,
        region_code=association.region_code,
        after={
            "as_of": as_of,
            "methodology": methodology.code,
            "version": methodology.version,
            "enterprises": len(scores),
            "drafts_hash": digest,
        },
    )
    return run


async def _insert_scores(
    session: AsyncSession, run_id: uuid.UUID, scores: Iterable[EnterpriseScore]
) -> None:
    table = Score.__table__  # type: ignore[attr-defined]
    batch: list[dict[str, Any]] = []
    for s in scores:
        batch.append(
            {
                "id": uuid.uuid4(),
                "run_id": run_id,
                "uscc": s.uscc,
                "score": s.score,
                "grade": s.grade,
                "breakdown": s.breakdown(),
                "evidence_hash": s.evidence_hash,
                "revision": 0,
            }
        )
        if len(batch) >= INSERT_CHUNK:
            await session.execute(insert(table), batch)
            batch = []
    if batch:
        await session.execute(insert(table), batch)


async def get_run(
    session: AsyncSession, run_id: uuid.UUID, *, association: Organization | None = None
) -> Run:
    run = await session.get(Run, run_id)
    if run is None:
        raise errors.RunNotFound()
    if association is not None and run.association_id != association.id:
        raise OrganizationForbidden()
    return run


async def list_runs(session: AsyncSession, association: Organization) -> list[Run]:
    return list(
        (
            await session.scalars(
                select(Run)
                .where(Run.association_id == association.id)
                .order_by(col(Run.created_at).desc())
            )
        ).all()
    )


async def run_scores(session: AsyncSession, run_id: uuid.UUID) -> list[tuple[Score, Enterprise]]:
    return [
        (s, e)
        for s, e in (
            await session.execute(
                select(Score, Enterprise)
                .join(Enterprise, col(Enterprise.uscc) == col(Score.uscc))
                .where(Score.run_id == run_id)
                .order_by(col(Score.score).desc(), col(Enterprise.name))
            )
        ).all()
    ]


async def open_notice(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    run_id: uuid.UUID,
    settings: Settings,
    now: datetime | None = None,
) -> Run:
    now = now or utcnow()
    run = await get_run(session, run_id, association=association)
    if run.status is not RunStatus.draft:
        raise errors.RunState(detail_zh="只有草稿状态的批次可以开始公示。")
    run.status = RunStatus.notice
    run.notice_opened_at = now
    run.notice_closes_at = notice_closes_at(now, settings.credit_notice_working_days)
    await session.flush()
    digest = await _run_digest(session, run.id)
    methodology = await get_methodology(session, run.methodology_id)
    await LedgerWriter(session, signing_key(settings)).append(
        "notice.opened",
        actor=Actor.of(actor),
        at=now,
        association=association_ref(association),
        run_id=run.id,
        methodology=methodology_ref(methodology),
        evidence_hash=digest,
        payload={
            "closes_at": run.notice_closes_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "working_days": settings.credit_notice_working_days,
            "drafts_hash": digest,
        },
    )
    await audit.record(
        session,
        actor=actor,
        action="credit.notice.open",
        entity_type="credit_run",
        entity_id=run.id,
        region_code=association.region_code,
        before={"status": "draft"},
        after={"status": "notice", "closes_at": run.notice_closes_at},
    )
    return run


def accepting_objections(run: Run, now: datetime) -> bool:
    return (
        run.status is RunStatus.notice
        and run.notice_closes_at is not None
        and now < run.notice_closes_at
    )


async def lodge_objection(
    session: AsyncSession,
    *,
    data: ObjectionCreate,
    settings: Settings,
    now: datetime | None = None,
) -> Objection:
    """Anyone may object during the 公示; the objector's name and contact stay private."""
    now = now or utcnow()
    code = validate_uscc(data.uscc)
    run = await session.get(Run, data.batch_id)
    if run is None or run.status is RunStatus.draft:
        raise errors.RunNotFound()
    if not accepting_objections(run, now):
        raise errors.NoticeClosed()
    score = await session.scalar(select(Score).where(Score.run_id == run.id, Score.uscc == code))
    if score is None:
        raise errors.NotInBatch()
    objection = Objection(
        run_id=run.id,
        uscc=code,
        objector_kind=data.objector_kind,
        objector_name=data.name.strip(),
        objector_contact=data.contact.strip(),
        text=data.text.strip(),
        status=ObjectionStatus.pending,
        lodged_at=now,
    )
    session.add(objection)
    await session.flush()
    association = await session.get(Organization, run.association_id)
    assert association is not None
    await LedgerWriter(session, signing_key(settings)).append(
        "objection.lodged",
        actor=Actor(id=None, role=f"objector:{data.objector_kind.value}"),
        at=now,
        association=association_ref(association),
        run_id=run.id,
        uscc=code,
        payload={
            "objection_id": str(objection.id),
            "objector_kind": data.objector_kind.value,
            # The text stays private (it may name people); its hash proves what was lodged.
            "text_sha256": sha256_hex(objection.text.encode("utf-8")),
        },
    )
    return objection


async def get_objection(session: AsyncSession, objection_id: uuid.UUID) -> Objection:
    objection = await session.get(Objection, objection_id)
    if objection is None:
        raise errors.ObjectionNotFound()
    return objection


async def list_objections(
    session: AsyncSession,
    *,
    association: Organization | None = None,
    run_id: uuid.UUID | None = None,
    status: ObjectionStatus | None = None,
) -> list[tuple[Objection, Enterprise]]:
    stmt = (
        select(Objection, Enterprise)
        .join(Enterprise, col(Enterprise.uscc) == col(Objection.uscc))
        .join(Run, col(Run.id) == col(Objection.run_id))
        .order_by(col(Objection.lodged_at))
    )
    if association is not None:
        stmt = stmt.where(Run.association_id == association.id)
    if run_id is not None:
        stmt = stmt.where(Objection.run_id == run_id)
    if status is not None:
        stmt = stmt.where(Objection.status == status)
    return [(o, e) for o, e in (await session.execute(stmt)).all()]


async def rescore(
    session: AsyncSession, run: Run, uscc: str, association: Organization
) -> EnterpriseScore:
    """One enterprise's score again, from today's facts as of the batch date and the current
    association entries (an upheld objection corrects one or the other)."""
    methodology = await get_methodology(session, run.methodology_id)
    method = Method.from_definition(methodology.code, methodology.version, methodology.definition)
    result = score_all(
        method,
        [uscc],
        as_of=run.as_of,
        entries=await load_entries(session, association.id, [uscc]),
        **await gather_facts(session, method, [uscc], run.as_of),
    )
    return result[uscc]


async def decide_objection(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    objection_id: uuid.UUID,
    data: ObjectionDecision,
    settings: Settings,
    now: datetime | None = None,
) -> Objection:
    now = now or utcnow()
    objection = await get_objection(session, objection_id)
    run = await get_run(session, objection.run_id, association=association)
    if objection.status is not ObjectionStatus.pending:
        raise errors.ObjectionDecided()
    if run.status is not RunStatus.notice:
        raise errors.RunState(detail_zh="批次已发布，异议不能再改变结果。")
    if data.decision == "rejected" and data.indicators:
        raise InvalidInput(
            "A rejected objection changes no indicator.", detail_zh="驳回异议时不能修改指标。"
        )
    score = await session.scalar(
        select(Score).where(Score.run_id == run.id, Score.uscc == objection.uscc)
    )
    assert score is not None
    before_score, before_grade = score.score, score.grade
    if data.decision == "upheld":
        if data.indicators:
            await _write_entries(
                session,
                actor=actor,
                association=association,
                uscc=objection.uscc,
                values=data.indicators,
                note=f"异议 {objection.id} 复核更正",
                now=now,
            )
        result = await rescore(session, run, objection.uscc, association)
        score.score = result.score
        score.grade = result.grade
        score.breakdown = result.breakdown()
        score.evidence_hash = result.evidence_hash
        score.revision += 1
        objection.status = ObjectionStatus.upheld
    else:
        objection.status = ObjectionStatus.rejected
    objection.decided_at = now
    objection.decided_by = actor.id
    objection.decision_reasons = data.reasons.strip()
    objection.score_before, objection.grade_before = before_score, before_grade
    objection.score_after, objection.grade_after = score.score, score.grade
    await session.flush()
    methodology = await get_methodology(session, run.methodology_id)
    await LedgerWriter(session, signing_key(settings)).append(
        "objection.decided",
        actor=Actor.of(actor),
        at=now,
        association=association_ref(association),
        run_id=run.id,
        uscc=objection.uscc,
        methodology=methodology_ref(methodology),
        evidence_hash=score.evidence_hash,
        payload={
            "objection_id": str(objection.id),
            "decision": objection.status.value,
            "reasons": objection.decision_reasons,
            "score_before": str(before_score),
            "grade_before": before_grade,
            "score_after": str(score.score),
            "grade_after": score.grade,
        },
    )
    await audit.record(
        session,
        actor=actor,
        action="credit.objection.decide",
        entity_type="credit_objection",
        entity_id=objection.id,
        region_code=association.region_code,
        before={"status": "pending", "score": before_score, "grade": before_grade},
        after={
            "status": objection.status,
            "score": score.score,
            "grade": score.grade,
            "reasons": objection.decision_reasons,
        },
    )
    return objection


async def publish_run(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    run_id: uuid.UUID,
    settings: Settings,
    now: datetime | None = None,
) -> Run:
    """Publish every score of the batch as the enterprise's grade, valid for N years."""
    now = now or utcnow()
    run = await get_run(session, run_id, association=association)
    if run.status is not RunStatus.notice:
        raise errors.RunState(detail_zh="只有公示中的批次可以发布。")
    assert run.notice_closes_at is not None
    if now < run.notice_closes_at:
        raise errors.NoticeStillOpen(
            detail_zh=f"公示期至 {run.notice_closes_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 结束。"
        )
    pending = await session.scalar(
        select(func.count())
        .select_from(Objection)
        .where(Objection.run_id == run.id, Objection.status == ObjectionStatus.pending)
    )
    if pending:
        raise errors.ObjectionsPending(detail_zh=f"尚有 {pending} 条异议未处理。")
    methodology = await get_methodology(session, run.methodology_id)
    valid_from = local_date(now)
    valid_until = validity_end(valid_from, settings.credit_validity_years)
    writer = LedgerWriter(session, signing_key(settings))
    ratings = {
        r.uscc: r
        for r in (
            await session.scalars(select(Rating).where(Rating.association_id == association.id))
        ).all()
    }
    actor_ref = Actor.of(actor)
    assoc = association_ref(association)
    mref = methodology_ref(methodology)
    # Only the columns the events need: the breakdowns stay in the database.
    columns: list[Any] = [
        Score.id,
        Score.uscc,
        Score.score,
        Score.grade,
        Score.evidence_hash,
        Enterprise.name,
    ]
    published = (
        await session.execute(
            select(*columns)
            .join(Enterprise, col(Enterprise.uscc) == col(Score.uscc))
            .where(Score.run_id == run.id)
            .order_by(col(Score.uscc))
        )
    ).all()
    new_ratings: list[dict[str, Any]] = []
    for score in published:
        row = await writer.stage(
            "rating.published",
            actor=actor_ref,
            at=now,
            association=assoc,
            run_id=run.id,
            uscc=score.uscc,
            methodology=mref,
            evidence_hash=score.evidence_hash,
            payload={
                "enterprise_name": score.name,
                "grade": score.grade,
                "score": str(score.score),
                "score_id": str(score.id),
                "valid_from": valid_from.isoformat(),
                "valid_until": valid_until.isoformat(),
            },
        )
        body = json.loads(row["body"])
        current = ratings.get(score.uscc)
        if current is None:
            state = project(None, body)
            assert state is not None
            new_ratings.append({"id": uuid.uuid4(), **state})
        else:
            _apply(session, ratings, body)
    digest = await _run_digest(session, run.id)
    await writer.stage(
        "run.published",
        actor=actor_ref,
        at=now,
        association=assoc,
        run_id=run.id,
        methodology=mref,
        evidence_hash=digest,
        payload={
            "enterprise_count": run.enterprise_count,
            "drafts_hash": digest,
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat(),
        },
    )
    await writer.write_staged()
    table = Rating.__table__  # type: ignore[attr-defined]
    for start in range(0, len(new_ratings), INSERT_CHUNK):
        await session.execute(insert(table), new_ratings[start : start + INSERT_CHUNK])
    run.status = RunStatus.published
    run.published_at = now
    run.valid_until = valid_until
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="credit.run.publish",
        entity_type="credit_run",
        entity_id=run.id,
        region_code=association.region_code,
        before={"status": "notice"},
        after={"status": "published", "valid_until": valid_until, "drafts_hash": digest},
    )
    return run


# --- the projection: current grades from events ------------------------------------------------


def project(state: dict[str, Any] | None, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The current grade of one (association, enterprise) after one more ledger event.

    Pure: ``rebuild_ratings`` folds the whole ledger through it and must arrive at the stored
    ``credit_rating`` rows."""
    kind = body["kind"]
    payload = body.get("payload") or {}
    if kind == "rating.published":
        return {
            "association_id": uuid.UUID(body["association"]["id"]),
            "uscc": body["uscc"],
            "status": RatingStatus.active,
            "grade": payload["grade"],
            "score": Decimal(payload["score"]),
            "run_id": uuid.UUID(body["run_id"]),
            "score_id": uuid.UUID(payload["score_id"]),
            "methodology_code": body["methodology"]["code"],
            "methodology_version": int(body["methodology"]["version"]),
            "valid_from": date.fromisoformat(payload["valid_from"]),
            "valid_until": date.fromisoformat(payload["valid_until"]),
            "under_review": False,
            "review_reason": None,
            "last_review_outcome": None,
            "last_review_on": None,
            "reply_text": None,
            "reply_at": None,
            "published_seq": body["seq"],
            "last_seq": body["seq"],
        }
    if state is None:
        return None
    state = dict(state)
    if kind == "rating.reviewed":
        state["under_review"] = False
        state["review_reason"] = None
        state["last_review_outcome"] = payload["outcome"]
        state["last_review_on"] = date.fromisoformat(payload["on"])
        if payload["outcome"] == "downgrade":
            state["grade"] = payload["grade_after"]
        elif payload["outcome"] == "cancel":
            state["status"] = RatingStatus.cancelled
    elif kind == "rating.flagged":
        state["under_review"] = True
        state["review_reason"] = payload["reason"][:500]
    elif kind == "rating.expired":
        state["status"] = RatingStatus.expired
    elif kind == "reply.published":
        state["reply_text"] = payload["text"]
        state["reply_at"] = datetime.fromisoformat(body["at"].replace("Z", "+00:00"))
    else:
        return state
    state["last_seq"] = body["seq"]
    return state


RATING_FIELDS = (
    "status",
    "grade",
    "score",
    "run_id",
    "score_id",
    "methodology_code",
    "methodology_version",
    "valid_from",
    "valid_until",
    "under_review",
    "review_reason",
    "last_review_outcome",
    "last_review_on",
    "reply_text",
    "reply_at",
    "published_seq",
    "last_seq",
)


def rating_state(rating: Rating) -> dict[str, Any]:
    return {
        "association_id": rating.association_id,
        "uscc": rating.uscc,
        **{name: getattr(rating, name) for name in RATING_FIELDS},
    }


def _apply(session: AsyncSession, ratings: dict[str, Rating], body: Mapping[str, Any]) -> None:
    uscc = body["uscc"]
    current = ratings.get(uscc)
    state = project(rating_state(current) if current else None, body)
    if state is None:
        return
    if current is None:
        current = Rating(**state)
        session.add(current)
        ratings[uscc] = current
    else:
        for name in RATING_FIELDS:
            setattr(current, name, state[name])


async def _rating_for(session: AsyncSession, association: Organization, uscc: str) -> Rating:
    rating = await session.scalar(
        select(Rating).where(Rating.association_id == association.id, Rating.uscc == uscc)
    )
    if rating is None or rating.status is not RatingStatus.active:
        raise errors.RatingNotFound()
    return rating


async def _append_for_rating(
    session: AsyncSession,
    writer: LedgerWriter,
    rating: Rating,
    association: Organization,
    kind: str,
    *,
    actor: Actor,
    at: datetime,
    payload: dict[str, Any],
) -> LedgerEvent:
    event = await writer.append(
        kind,
        actor=actor,
        at=at,
        association=association_ref(association),
        run_id=rating.run_id,
        uscc=rating.uscc,
        methodology={"code": rating.methodology_code, "version": rating.methodology_version},
        payload=payload,
    )
    _apply(session, {rating.uscc: rating}, json.loads(event.body))
    await session.flush()
    return event


async def review_rating(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    uscc: str,
    data: ReviewCreate,
    settings: Settings,
    now: datetime | None = None,
) -> Rating:
    """Annual or ad-hoc review: keep, downgrade or cancel the published grade, with reasons."""
    now = now or utcnow()
    code = validate_uscc(uscc)
    rating = await _rating_for(session, association, code)
    before = {"grade": rating.grade, "status": rating.status}
    if data.outcome == "downgrade":
        assert data.grade is not None
        if grade_rank(data.grade) <= grade_rank(rating.grade):
            raise errors.InvalidReview(
                f"{data.grade} is not below the current grade {rating.grade}.",
                detail_zh=f"降级后的等级须低于当前等级 {rating.grade}。",
            )
    flags = list(
        (
            await session.scalars(
                select(ReviewFlag).where(
                    ReviewFlag.association_id == association.id,
                    ReviewFlag.uscc == code,
                    col(ReviewFlag.resolved_seq).is_(None),
                )
            )
        ).all()
    )
    event = await _append_for_rating(
        session,
        LedgerWriter(session, signing_key(settings)),
        rating,
        association,
        "rating.reviewed",
        actor=Actor.of(actor),
        at=now,
        payload={
            "outcome": data.outcome,
            "on": local_date(now).isoformat(),
            "grade_before": before["grade"],
            "grade_after": data.grade if data.outcome == "downgrade" else before["grade"],
            "reasons": data.reasons.strip(),
            "resolves": sorted(f.decision_number for f in flags),
        },
    )
    for flag in flags:
        flag.resolved_seq = event.seq
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="credit.rating.review",
        entity_type="credit_rating",
        entity_id=rating.id,
        region_code=association.region_code,
        before=before,
        after={
            "outcome": data.outcome,
            "grade": rating.grade,
            "status": rating.status,
            "reasons": data.reasons,
        },
    )
    return rating


async def publish_reply(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    uscc: str,
    data: ReplyCreate,
    settings: Settings,
    now: datetime | None = None,
) -> Rating:
    """The enterprise's reply, shown beside its grade. Enterprises have no accounts here: the
    association records the reply the enterprise submitted in writing, unchanged."""
    now = now or utcnow()
    code = validate_uscc(uscc)
    rating = await _rating_for(session, association, code)
    before = {"reply": rating.reply_text}
    await _append_for_rating(
        session,
        LedgerWriter(session, signing_key(settings)),
        rating,
        association,
        "reply.published",
        actor=Actor.of(actor),
        at=now,
        payload={"text": data.text.strip()},
    )
    await audit.record(
        session,
        actor=actor,
        action="credit.reply.publish",
        entity_type="credit_rating",
        entity_id=rating.id,
        region_code=association.region_code,
        before=before,
        after={"reply": rating.reply_text},
    )
    return rating


# --- periodic work -----------------------------------------------------------------------------


async def _active_ratings(session: AsyncSession, today: date) -> list[Rating]:
    return list(
        (
            await session.scalars(
                select(Rating).where(
                    Rating.status == RatingStatus.active, col(Rating.valid_until) >= today
                )
            )
        ).all()
    )


async def flag_serious_penalties(
    session: AsyncSession, *, settings: Settings, now: datetime | None = None
) -> int:
    """Flag for review every active grade whose enterprise received a serious penalty (severity
    points ≥ GONGZHI_CREDIT_SERIOUS_PENALTY_POINTS under the grade's methodology) decided on or
    after the grade's publication. Each penalty flags a grade once."""
    now = now or utcnow()
    today = local_date(now)
    ratings = await _active_ratings(session, today)
    if not ratings:
        return 0
    usccs = sorted({r.uscc for r in ratings})
    wanted = usccs if len(usccs) <= FACTS_IN_LIMIT else None
    by_party: dict[str, list[facts.PenaltyFact]] = defaultdict(list)
    for penalty in await facts.penalty_facts(session, as_of=today, usccs=wanted):
        by_party[penalty.party_uscc].append(penalty)
    if not by_party:
        return 0
    flagged = {
        (a, u, d)
        for a, u, d in (
            await session.execute(
                select(ReviewFlag.association_id, ReviewFlag.uscc, ReviewFlag.decision_number)
            )
        ).all()
    }
    params: dict[tuple[str, int], Mapping[str, Any]] = {}
    organizations: dict[uuid.UUID, Organization] = {}
    writer = LedgerWriter(session, signing_key(settings))
    count = 0
    for rating in ratings:
        for penalty in by_party.get(rating.uscc, []):
            key = (rating.association_id, rating.uscc, penalty.decision_number)
            if key in flagged or penalty.decided_on < rating.valid_from:
                continue
            mkey = (rating.methodology_code, rating.methodology_version)
            if mkey not in params:
                row = await session.scalar(
                    select(Methodology).where(
                        Methodology.code == mkey[0], Methodology.version == mkey[1]
                    )
                )
                method = Method.from_definition(
                    mkey[0],
                    mkey[1],
                    row.definition if row else {"indicators": [], "grades": [["C", "0"]]},
                )
                params[mkey] = next(
                    (i.params for i in method.indicators if i.kind == "penalties"), {}
                )
            points = penalty_points(penalty, params[mkey])
            if points < settings.credit_serious_penalty_points:
                continue
            if rating.association_id not in organizations:
                org = await session.get(Organization, rating.association_id)
                assert org is not None
                organizations[rating.association_id] = org
            session.add(
                ReviewFlag(
                    association_id=rating.association_id,
                    uscc=rating.uscc,
                    decision_number=penalty.decision_number,
                    penalty_kind=penalty.penalty_kind,
                    decided_on=penalty.decided_on,
                    flagged_at=now,
                )
            )
            flagged.add(key)
            await _append_for_rating(
                session,
                writer,
                rating,
                organizations[rating.association_id],
                "rating.flagged",
                actor=Actor.of(None),
                at=now,
                payload={
                    "reason": f"新的行政处罚 {penalty.decision_number}（{penalty.penalty_kind}）",
                    "decision_number": penalty.decision_number,
                    "penalty_kind": penalty.penalty_kind,
                    "decided_on": penalty.decided_on.isoformat(),
                    "points": points,
                },
            )
            count += 1
    return count


async def expire_ratings(
    session: AsyncSession, *, settings: Settings, now: datetime | None = None
) -> int:
    """Record the end of every grade whose validity has passed."""
    now = now or utcnow()
    today = local_date(now)
    due = list(
        (
            await session.scalars(
                select(Rating).where(
                    Rating.status == RatingStatus.active, col(Rating.valid_until) < today
                )
            )
        ).all()
    )
    writer = LedgerWriter(session, signing_key(settings))
    for rating in due:
        org = await session.get(Organization, rating.association_id)
        assert org is not None
        await _append_for_rating(
            session,
            writer,
            rating,
            org,
            "rating.expired",
            actor=Actor.of(None),
            at=now,
            payload={"valid_until": rating.valid_until.isoformat()},
        )
    return len(due)


async def rebuild_ratings(session: AsyncSession, *, repair: bool = False) -> list[str]:
    """Fold the whole ledger through ``project`` and compare with the stored current grades.
    Returns the differences; with ``repair`` the stored rows are replaced by the folded ones."""
    states: dict[tuple[str, str], dict[str, Any] | None] = {}
    after = 0
    while True:
        rows = (
            await session.scalars(
                select(LedgerEvent)
                .where(col(LedgerEvent.seq) > after, col(LedgerEvent.uscc).is_not(None))
                .order_by(col(LedgerEvent.seq))
                .limit(5000)
            )
        ).all()
        if not rows:
            break
        for row in rows:
            body = json.loads(row.body)
            if body.get("association") is None:
                continue
            key = (body["association"]["id"], body["uscc"])
            states[key] = project(states.get(key), body)
        after = rows[-1].seq
    stored = {
        (str(r.association_id), r.uscc): r for r in (await session.scalars(select(Rating))).all()
    }
    differences: list[str] = []
    for key in sorted(set(states) | set(stored)):
        folded = states.get(key)
        row = stored.get(key)
        if folded is None and row is None:
            continue
        if row is None:
            differences.append(f"{key[1]}: in the ledger but not stored")
        elif folded is None:
            differences.append(f"{key[1]}: stored but not in the ledger")
        else:
            for name in RATING_FIELDS:
                if getattr(row, name) != folded[name]:
                    differences.append(
                        f"{key[1]}: {name} stored {getattr(row, name)!r}, ledger {folded[name]!r}"
                    )
        if repair:
            if row is not None and folded is None:
                await session.delete(row)
            elif row is None and folded is not None:
                session.add(Rating(**folded))
            elif row is not None and folded is not None:
                for name in RATING_FIELDS:
                    setattr(row, name, folded[name])
    await session.flush()
    return differences


# --- public views ------------------------------------------------------------------------------


def _rating_filters(
    stmt: Any,
    *,
    today: date,
    industry: str | None,
    grade: str | None,
    region: str | None,
    q: str | None,
) -> Any:
    stmt = stmt.where(Rating.status == RatingStatus.active, col(Rating.valid_until) >= today)
    if industry:
        stmt = stmt.where(Enterprise.industry == industry)
    if grade:
        if grade not in GRADES:
            raise InvalidInput(
                f"grade must be one of {', '.join(GRADES)}.", detail_zh="信用等级取值无效。"
            )
        stmt = stmt.where(Rating.grade == grade)
    if region:
        if not (len(region) == 6 and region.isdigit()):
            raise InvalidInput(
                "region is a 6-digit division code.", detail_zh="行政区划代码应为 6 位数字。"
            )
        stmt = stmt.where(col(Enterprise.region_code).startswith(significant_prefix(region)))
    if q:
        term = q.strip()
        stmt = stmt.where(
            or_(col(Enterprise.name).contains(term), col(Enterprise.uscc) == term.upper())
        )
    return stmt


async def list_ratings(
    session: AsyncSession,
    *,
    today: date,
    industry: str | None = None,
    grade: str | None = None,
    region: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[tuple[Rating, Enterprise, Organization]], int]:
    base = (
        select(Rating, Enterprise, Organization)
        .join(Enterprise, col(Enterprise.uscc) == col(Rating.uscc))
        .join(Organization, col(Organization.id) == col(Rating.association_id))
    )

    def filtered(stmt: Any) -> Any:
        return _rating_filters(
            stmt, today=today, industry=industry, grade=grade, region=region, q=q
        )

    stmt = filtered(base)
    count_stmt = filtered(
        select(func.count())
        .select_from(Rating)
        .join(Enterprise, col(Enterprise.uscc) == col(Rating.uscc))
    )
    total = int(await session.scalar(count_stmt) or 0)
    stmt = stmt.order_by(col(Rating.score).desc(), col(Enterprise.name))
    if per_page > 0:
        stmt = stmt.limit(per_page).offset((page - 1) * per_page)
    rows = [(r, e, o) for r, e, o in (await session.execute(stmt)).all()]
    return rows, total


async def industries(session: AsyncSession) -> list[str]:
    return [
        i
        for i in (
            await session.scalars(
                select(Enterprise.industry)
                .join(Rating, col(Rating.uscc) == col(Enterprise.uscc))
                .where(Rating.status == RatingStatus.active)
                .distinct()
                .order_by(col(Enterprise.industry))
            )
        ).all()
        if i
    ]


async def enterprise_detail(session: AsyncSession, uscc: str, *, today: date) -> dict[str, Any]:
    enterprise = await get_enterprise(session, uscc)
    ratings = [
        (r, o)
        for r, o in (
            await session.execute(
                select(Rating, Organization)
                .join(Organization, col(Organization.id) == col(Rating.association_id))
                .where(Rating.uscc == enterprise.uscc)
                .order_by(col(Rating.published_seq).desc())
            )
        ).all()
    ]
    current = next(
        ((r, o) for r, o in ratings if r.status is RatingStatus.active and r.valid_until >= today),
        None,
    )
    score = await session.get(Score, current[0].score_id) if current else None
    events = (
        await session.scalars(
            select(LedgerEvent)
            .where(LedgerEvent.uscc == enterprise.uscc)
            .order_by(col(LedgerEvent.seq).desc())
            .limit(200)
        )
    ).all()
    notices = (
        await session.execute(
            select(Run, Score, Organization)
            .join(Score, col(Score.run_id) == col(Run.id))
            .join(Organization, col(Organization.id) == col(Run.association_id))
            .where(Run.status == RunStatus.notice, Score.uscc == enterprise.uscc)
        )
    ).all()
    return {
        "enterprise": enterprise,
        "ratings": ratings,
        "current": current,
        "score": score,
        "events": list(events),
        "notices": [(run, s, o) for run, s, o in notices],
    }


async def list_notices(session: AsyncSession) -> list[tuple[Run, Organization]]:
    """Batches in 公示 and recently published ones, newest first."""
    rows = (
        await session.execute(
            select(Run, Organization)
            .join(Organization, col(Organization.id) == col(Run.association_id))
            .where(col(Run.status).in_([RunStatus.notice, RunStatus.published]))
            .order_by(col(Run.notice_opened_at).desc())
            .limit(100)
        )
    ).all()
    return [(r, o) for r, o in rows]


async def notice_detail(session: AsyncSession, run_id: uuid.UUID) -> dict[str, Any]:
    run = await session.get(Run, run_id)
    if run is None or run.status is RunStatus.draft:
        raise errors.RunNotFound()
    association = await session.get(Organization, run.association_id)
    methodology = await get_methodology(session, run.methodology_id)
    return {
        "run": run,
        "association": association,
        "methodology": methodology,
        "scores": await run_scores(session, run.id),
        "objections": await list_objections(session, run_id=run.id),
    }


async def ledger_entries(
    session: AsyncSession, *, after: int = 0, limit: int = 500
) -> list[LedgerEvent]:
    return list(
        (
            await session.scalars(
                select(LedgerEvent)
                .where(col(LedgerEvent.seq) > after)
                .order_by(col(LedgerEvent.seq))
                .limit(limit)
            )
        ).all()
    )


async def ledger_head(session: AsyncSession) -> LedgerEvent | None:
    return await session.scalar(select(LedgerEvent).order_by(col(LedgerEvent.seq).desc()).limit(1))


async def feed_events(session: AsyncSession, *, limit: int = 50) -> list[LedgerEvent]:
    return list(
        (
            await session.scalars(
                select(LedgerEvent)
                .where(
                    col(LedgerEvent.kind).in_(
                        ["rating.published", "rating.reviewed", "rating.expired", "run.published"]
                    )
                )
                .order_by(col(LedgerEvent.seq).desc())
                .limit(limit)
            )
        ).all()
    )


async def pending_reviews(
    session: AsyncSession, association: Organization
) -> list[tuple[Rating, Enterprise]]:
    rows = (
        await session.execute(
            select(Rating, Enterprise)
            .join(Enterprise, col(Enterprise.uscc) == col(Rating.uscc))
            .where(
                Rating.association_id == association.id,
                Rating.status == RatingStatus.active,
            )
            .order_by(col(Rating.under_review).desc(), col(Enterprise.name))
        )
    ).all()
    return [(r, e) for r, e in rows]
