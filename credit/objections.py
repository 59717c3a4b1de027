"""Objections (异议) during the 公示: lodged by anyone, decided by the association with reasons.

Each objection writes a permanent signed ledger event, so lodging is bounded: one open objection
per person (contact), enterprise and batch; a rate per client address and a rate per batch and
enterprise from everyone (``check_objection_limits``); and every field has a size bound."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from credit import errors
from credit.ledger import (
    Actor,
    LedgerWriter,
    association_ref,
    methodology_ref,
    sha256_hex,
    signing_key,
)
from credit.members import load_entries, shown_name, validate_uscc, write_entries
from credit.methodologies import get_methodology
from credit.models import Enterprise, Membership, Objection, ObjectionStatus, Run, RunStatus, Score
from credit.runs import accepting_objections, gather_facts, get_run
from credit.schemas import ObjectionCreate, ObjectionDecision
from credit.scoring import EnterpriseScore, Method, score_all
from credit.settings import CreditSettings
from portal import clock
from portal.accounts.models import Organization, User
from portal.audit import service as audit
from portal.errors import InvalidInput
from portal.ratelimit import RateLimiter
from portal.settings import Settings


@dataclass(frozen=True)
class ObjectionRow:
    objection: Objection
    name: str  # the enterprise as shown in the batch


async def check_objection_limits(
    limiter: RateLimiter, settings: Settings, *, client: str, data: ObjectionCreate
) -> None:
    """429 before anything is written: per client address, and per batch and enterprise from
    all clients together (so rotating addresses cannot flood the ledger)."""
    credit = settings.of(CreditSettings)
    await limiter.enforce(credit.credit_objection_rate, "credit-objection", client)
    await limiter.enforce(
        credit.credit_objection_rate_per_enterprise,
        "credit-objection-enterprise",
        str(data.batch_id),
        data.uscc.strip().upper(),
    )


def contact_key(contact: str) -> str:
    """The objector's contact as compared for duplicates: no spaces, case-insensitive."""
    return "".join(contact.split()).lower()


async def lodge_objection(
    session: AsyncSession,
    *,
    data: ObjectionCreate,
    settings: Settings,
    now: datetime | None = None,
) -> Objection:
    """Anyone may object during the 公示; the objector's name and contact stay private."""
    now = now or clock.now()
    code = validate_uscc(data.uscc)
    run = await session.get(Run, data.batch_id)
    if run is None or run.status is RunStatus.draft:
        raise errors.RunNotFound()
    if not accepting_objections(run, now):
        raise errors.NoticeClosed()
    score = await session.scalar(select(Score).where(Score.run_id == run.id, Score.uscc == code))
    if score is None:
        raise errors.NotInBatch()
    # Take the chain's lock before looking for an open objection: the same objection sent
    # twice at once otherwise found none in both requests and was lodged twice. The second now
    # waits for the first to commit and finds it. A decision takes the same lock first, so the
    # two never wait for each other's rows.
    writer = LedgerWriter(session, signing_key(settings))
    await writer.lock()
    contact = data.contact.strip()
    open_contacts = (
        await session.scalars(
            select(Objection.objector_contact).where(
                Objection.run_id == run.id,
                Objection.uscc == code,
                Objection.status == ObjectionStatus.pending,
            )
        )
    ).all()
    if contact_key(contact) in {contact_key(c) for c in open_contacts}:
        raise errors.DuplicateObjection(
            detail_zh="您对该企业在本批次的异议尚未处理完毕，请勿重复提交；可凭编号查询进度。"
        )
    objection = Objection(
        run_id=run.id,
        uscc=code,
        objector_kind=data.objector_kind,
        objector_name=data.name.strip(),
        objector_contact=contact,
        text=data.text.strip(),
        status=ObjectionStatus.pending,
        lodged_at=now,
    )
    session.add(objection)
    await session.flush()
    association = await session.get(Organization, run.association_id)
    assert association is not None
    await writer.append(
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


async def get_objection(session: AsyncSession, objection_id: uuid.UUID) -> ObjectionRow:
    name, joined = shown_name(Run.association_id, Objection.uscc)
    row = (
        await session.execute(
            select(Objection, name)
            .join(Run, col(Run.id) == col(Objection.run_id))
            .join(Enterprise, col(Enterprise.uscc) == col(Objection.uscc))
            .outerjoin(Membership, joined)
            .where(Objection.id == objection_id)
        )
    ).first()
    if row is None:
        raise errors.ObjectionNotFound()
    return ObjectionRow(row[0], row[1])


async def list_objections(
    session: AsyncSession,
    *,
    association: Organization | None = None,
    run_id: uuid.UUID | None = None,
    status: ObjectionStatus | None = None,
) -> list[ObjectionRow]:
    name, joined = shown_name(Run.association_id, Objection.uscc)
    stmt = (
        select(Objection, name)
        .join(Enterprise, col(Enterprise.uscc) == col(Objection.uscc))
        .join(Run, col(Run.id) == col(Objection.run_id))
        .outerjoin(Membership, joined)
        .order_by(col(Objection.lodged_at))
    )
    if association is not None:
        stmt = stmt.where(Run.association_id == association.id)
    if run_id is not None:
        stmt = stmt.where(Objection.run_id == run_id)
    if status is not None:
        stmt = stmt.where(Objection.status == status)
    return [ObjectionRow(o, n) for o, n in (await session.execute(stmt)).all()]


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
    now = now or clock.now()
    # The chain's lock first: the same objection decided twice at once was decided twice
    # (the second overwriting the first), each with its ledger event.
    writer = LedgerWriter(session, signing_key(settings))
    await writer.lock()
    objection = (await get_objection(session, objection_id)).objection
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
            await write_entries(
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
    await writer.append(
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
