"""The institution's side of the registry: who acts for which institution, issuing one
certificate, revoking and correcting. Rows are written by api/certificates/store.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.errors import (
    CertificateAlreadyRevoked,
    CertificateNotFound,
    CertificateNumberInUse,
    CertificateNumberTaken,
    CertificateSuperseded,
    CorrectionHeld,
    InvalidCertificate,
    NotAnInstitution,
    OutsideAuthorisedScope,
)
from api.certificates.import_columns import COLUMNS
from api.certificates.import_rows import FieldError, ValidationContext, validate_row
from api.certificates.lookup import lookup_certificate
from api.certificates.models import CertificateEvent, CertificateEventKind, InstrumentEvent
from api.certificates.numbers import normalize_number
from api.certificates.queries import (
    categories,
    certificates,
    events,
    instruments,
    regions,
    today_local,
)
from api.certificates.schemas import (
    REVIEW_REASON_ZH,
    CertificateCreate,
    CertificateHeld,
    CertificateRead,
)
from api.certificates.scope import load_scope
from api.certificates.settings import CertificatesSettings
from api.certificates.store import StoreResult, store_rows
from portal import facts
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.accounts.permissions import Action, authorize
from portal.accounts.service import get_organization_by_code
from portal.audit import service as audit
from portal.db import one_of


async def acting_institution(
    session: AsyncSession, actor: User, action: Action, code: str | None = None
) -> Organization:
    """The institution the actor works for (administrators name one with ``code``)."""
    if actor.role == Role.admin:
        if not code:
            raise NotAnInstitution(
                "Administrators must name the institution.", detail_zh="管理员须指定检定机构代码。"
            )
        org = await get_organization_by_code(session, code)
    else:
        authorize(actor, action)
        org_found = (
            await session.get(Organization, actor.organization_id)
            if actor.organization_id
            else None
        )
        if org_found is None:
            raise NotAnInstitution()
        org = org_found
        if code and code != org.code:
            authorize(actor, action, organization_id=uuid.uuid4())  # raises organization_forbidden
    if org.kind != OrganizationKind.institution:
        raise NotAnInstitution(detail_zh=f"{org.name} 不是检定机构。")
    authorize(actor, action, organization_id=org.id)
    return org


async def validation_context(
    session: AsyncSession, settings: CertificatesSettings
) -> ValidationContext:
    category_codes: dict[str, str] = {}
    regulations: dict[str, str] = {}
    for code, name, regulation in (
        await session.execute(select(categories.c.code, categories.c.name, categories.c.regulation))
    ).all():
        category_codes[code.lower()] = code
        category_codes[name.lower()] = code
        regulations[code] = regulation
    region_codes = set((await session.scalars(select(regions.c.code))).all())
    return ValidationContext(
        categories=category_codes,
        regulations=regulations,
        regions=region_codes,
        cycles=settings.verification_cycle_months,
        default_cycle=settings.default_verification_cycle_months,
        today=today_local(),
    )


def _field_errors(errors: Iterable[FieldError]) -> list[dict[str, str]]:
    return [
        {"field": e.column, "type": e.code, "message": e.reason, "message_zh": e.reason_zh}
        for e in errors
    ]


async def record_identity_changes(
    session: AsyncSession, stored: StoreResult, *, actor: User | None, institution: Organization
) -> None:
    """An instrument's owner or place changed by its owning institution's newer certificate: an
    audit event with the actor and the certificate as the reason (issue 11 #2)."""
    for change in stored.identity_changes:
        # The instrument's own history: an owner is never re-pointed without an event.
        session.add(
            InstrumentEvent(
                instrument_id=change.instrument_id,
                kind="identity_changed",
                actor_id=actor.id if actor is not None else None,
                data={
                    "before": change.before,
                    "after": change.after,
                    "number": change.number,
                    "institution": institution.code,
                },
            )
        )
        await audit.record(
            session,
            actor=actor,
            action="instrument.identity_change",
            entity_type="instrument",
            entity_id=change.instrument_id,
            region_code=change.after["region_code"],
            before=change.before,
            after={
                **change.after,
                "reason": f"certificate {change.number}",
                "institution": institution.code,
            },
        )


async def numbers_used_elsewhere(
    session: AsyncSession, numbers: list[str], institution_id: uuid.UUID
) -> set[str]:
    """Which of ``numbers`` another institution already issued: the public lookup answers by
    number alone, so a number is never allowed to become ambiguous (issue 11 #2)."""
    if not numbers:
        return set()
    found = await session.scalars(
        select(certificates.c.number)
        .where(
            one_of(certificates.c.number, numbers, session),
            certificates.c.institution_id != institution_id,
        )
        .distinct()
    )
    return set(found.all())


async def issue_certificate(
    session: AsyncSession,
    data: CertificateCreate,
    *,
    actor: User,
    settings: CertificatesSettings,
) -> tuple[CertificateRead | CertificateHeld, bool]:
    """Issue one certificate; returns it and whether it was created (an identical repeat is not).
    A certificate whose registered instrument is ambiguous is stored but held for the bureau:
    the answer says so."""
    org = await acting_institution(session, actor, Action.certificate_issue, data.institution)
    ctx = await validation_context(session, settings)
    validated = validate_row(data.model_dump(exclude={"institution"}), ctx)
    if isinstance(validated, list):
        raise InvalidCertificate(
            f"{len(validated)} field(s) are not valid.",
            detail_zh=f"有 {len(validated)} 项内容不符合要求。",
            errors=_field_errors(validated),
        )
    if await numbers_used_elsewhere(session, [validated.number], org.id):
        raise CertificateNumberInUse(
            detail_zh=f"证书编号 {validated.number} 已由其他检定机构使用，请使用本机构的编号规则。"
        )
    scope = await load_scope(session, org.id, required=settings.require_institution_scope)
    stored = await store_rows(
        session, institution_id=org.id, rows=[(1, validated)], actor_id=actor.id, scope=scope
    )
    if stored.conflicts:
        raise CertificateNumberTaken(detail_zh=f"证书编号 {validated.number} 已用于其他内容。")
    if stored.out_of_scope:
        problem = stored.out_of_scope[0][1]
        raise OutsideAuthorisedScope(
            problem.reason, detail_zh=problem.reason_zh, errors=_field_errors([problem])
        )
    if stored.held:
        _, review_id, reason = stored.held[0]
        if reason:
            await audit.record(
                session,
                actor=actor,
                action="certificate.held",
                entity_type="certificate_review",
                entity_id=review_id,
                region_code=validated.region_code,
                after={"institution": org.code, "number": validated.number, "reason": reason},
            )
        return held_answer(review_id, validated.number, reason or "held"), bool(reason)
    await record_identity_changes(session, stored, actor=actor, institution=org)
    created = bool(stored.created)
    if created:
        await audit.record(
            session,
            actor=actor,
            action="certificate.issue",
            entity_type="certificate",
            entity_id=stored.created[0][1],
            region_code=validated.region_code,
            after={"institution": org.code, **{c: getattr(validated, c) for c in COLUMNS}},
        )
    return (
        await lookup_certificate(
            session, validated.number, settings=settings, institution_code=org.code
        ),
        created,
    )


def held_answer(review_id: uuid.UUID, number: str, reason: str) -> CertificateHeld:
    return CertificateHeld(
        review_id=review_id,
        number=number,
        reason=reason,
        reason_name=REVIEW_REASON_ZH.get(reason, "待核对"),
        message_zh=f"证书 {number} 已保存，但对应的已登记器具不能唯一确定，"
        "由器具所在地市场监管部门核对后归入器具。",
    )


async def _own_certificate(session: AsyncSession, number: str, org: Organization) -> Any:
    number = normalize_number(number)
    row = (
        await session.execute(
            select(
                certificates.c.id,
                certificates.c.instrument_id,
                certificates.c.number,
                instruments.c.region_code,
            )
            .select_from(
                certificates.join(instruments, instruments.c.id == certificates.c.instrument_id)
            )
            .where(certificates.c.institution_id == org.id, certificates.c.number == number)
        )
    ).first()
    if row is None:
        raise CertificateNotFound(detail_zh=f"本机构没有编号为 {number} 的证书。")
    kinds = set(
        (
            await session.scalars(select(events.c.kind).where(events.c.certificate_id == row.id))
        ).all()
    )
    if "revoked" in kinds:
        raise CertificateAlreadyRevoked()
    if "corrected" in kinds:
        raise CertificateSuperseded()
    return row


async def revoke_certificate(
    session: AsyncSession,
    number: str,
    *,
    reason: str,
    actor: User,
    settings: CertificatesSettings,
    institution_code: str | None = None,
) -> CertificateRead:
    org = await acting_institution(session, actor, Action.certificate_revoke, institution_code)
    row = await _own_certificate(session, number, org)
    session.add(
        CertificateEvent(
            certificate_id=row.id,
            kind=CertificateEventKind.revoked,
            actor_id=actor.id,
            reason=reason.strip(),
        )
    )
    await session.flush()
    await facts.registry_changed(session, [row.instrument_id])
    await audit.record(
        session,
        actor=actor,
        action="certificate.revoke",
        entity_type="certificate",
        entity_id=row.id,
        region_code=row.region_code,
        before={"number": number, "status": "active"},
        after={"number": number, "status": "revoked", "reason": reason.strip()},
    )
    return await lookup_certificate(session, number, settings=settings, institution_code=org.code)


async def _recompute_current(session: AsyncSession, instrument_id: uuid.UUID) -> None:
    """Point the instrument at its latest certificate that no correction superseded."""
    superseded = exists().where(
        events.c.certificate_id == certificates.c.id, events.c.kind == "corrected"
    )
    latest = await session.scalar(
        select(certificates.c.id)
        .where(certificates.c.instrument_id == instrument_id, ~superseded)
        .order_by(certificates.c.verified_on.desc(), certificates.c.created_at.desc())
        .limit(1)
    )
    await session.execute(
        update(instruments)
        .where(instruments.c.id == instrument_id)
        .values(current_certificate_id=latest)
    )
    await facts.registry_changed(session, [instrument_id])


async def correct_certificate(
    session: AsyncSession,
    number: str,
    data: CertificateCreate,
    *,
    reason: str,
    actor: User,
    settings: CertificatesSettings,
) -> CertificateRead:
    """Issue a new certificate that supersedes ``number`` (which stays, with a corrected event)."""
    org = await acting_institution(session, actor, Action.certificate_issue, data.institution)
    old = await _own_certificate(session, number, org)
    if data.number == normalize_number(number):
        raise InvalidCertificate(
            "A correction has a new number.", detail_zh="更正证书须使用新的证书编号。"
        )
    issued, created = await issue_certificate(session, data, actor=actor, settings=settings)
    if isinstance(issued, CertificateHeld):
        raise CorrectionHeld()
    if not created:
        raise CertificateNumberTaken(detail_zh=f"证书编号 {data.number} 已存在。")
    new = (
        await session.execute(
            select(certificates.c.id, certificates.c.instrument_id).where(
                certificates.c.institution_id == org.id, certificates.c.number == data.number
            )
        )
    ).one()
    session.add(
        CertificateEvent(
            certificate_id=old.id,
            kind=CertificateEventKind.corrected,
            actor_id=actor.id,
            reason=reason.strip(),
            successor_id=new.id,
        )
    )
    await session.flush()
    for instrument_id in {old.instrument_id, new.instrument_id}:
        await _recompute_current(session, instrument_id)
    await audit.record(
        session,
        actor=actor,
        action="certificate.correct",
        entity_type="certificate",
        entity_id=old.id,
        region_code=old.region_code,
        before={"number": number},
        after={"superseded_by": data.number, "reason": reason.strip()},
    )
    return await lookup_certificate(
        session, data.number, settings=settings, institution_code=org.code
    )
