"""Institutions' authorisation scope (授权证书): recording it, reading it, and checking each
certificate against it.

计量法 第二十条 and 计量授权管理办法: the metrology department authorises an institution to verify
given instruments within given areas, for a term. An authorisation here is a set of catalogue
codes (api/certificates/catalogue_2020.json) × a set of GB/T 2260 regions (a region covers its
subregions), valid from ``valid_from`` to ``valid_until`` inclusive. A certificate is within
scope when ONE authorisation, valid on the verification day and not revoked, covers both its
category and its instrument's region.

Who is checked (``require_institution_scope``, default off): an institution with at least one
authorisation recorded (valid, expired or revoked) is always checked, so that a bureau can enter
its designated institutions one at a time without stopping the others, and an institution whose
authorisations all lapsed issues nothing. Once every institution is entered, the setting makes an
institution with none recorded issue nothing as well. A revoked authorisation covers nothing: a
record entered by mistake is revoked and the right one recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.certificates.catalogue import catalogue
from api.certificates.errors import (
    AuthorisationExists,
    AuthorisationNotFound,
    AuthorisationRevoked,
    InvalidAuthorisation,
)
from api.certificates.import_rows import FieldError
from api.certificates.models import InstitutionAuthorisation
from api.certificates.schemas import AuthorisationCreate, AuthorisationRead
from portal import clock
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.accounts.permissions import Action, authorize
from portal.accounts.service import get_organization_by_code
from portal.audit import service as audit
from portal.errors import Forbidden
from portal.pagination import PageRequest
from portal.regions.models import Region
from portal.regions.service import code_bounds, covers


@dataclass(frozen=True)
class Grant:
    number: str
    categories: frozenset[str]
    regions: tuple[str, ...]
    valid_from: date
    valid_until: date

    def covers_region(self, region: str) -> bool:
        return any(covers(r, region) for r in self.regions)


@dataclass(frozen=True)
class Scope:
    """What one institution may certify; ``problem`` is None for a row within it."""

    grants: tuple[Grant, ...]

    def problem(self, category: str, regions: Iterable[str], on: date) -> FieldError | None:
        wanted = [r for r in dict.fromkeys(regions) if r]
        valid = [g for g in self.grants if g.valid_from <= on <= g.valid_until]
        for g in valid:
            if category in g.categories and all(g.covers_region(r) for r in wanted):
                return None
        if not self.grants:
            return FieldError(
                "category_code",
                "outside_scope",
                "the institution has no authorisation in force (授权证书)",
                "本机构没有在用的授权证书，不能出具检定证书",
            )
        if not valid:
            return FieldError(
                "verified_on",
                "outside_scope",
                f"no authorisation of the institution is valid on {on.isoformat()}",
                f"检定日期 {on.isoformat()} 不在本机构任何授权证书的有效期内",
            )
        if not any(category in g.categories for g in valid):
            return FieldError(
                "category_code",
                "outside_scope",
                f"category {category} is outside the institution's authorised items",
                f"器具类别 {category} 不在本机构的授权项目内",
            )
        region = ", ".join(wanted)
        return FieldError(
            "region_code",
            "outside_scope",
            f"region {region} is outside the institution's authorised area for {category}",
            f"器具所在区域 {region} 不在本机构该项目的授权区域内",
        )


async def load_scope(
    session: AsyncSession, institution_id: uuid.UUID, *, required: bool
) -> Scope | None:
    """The institution's scope, or None when it is not checked (nothing recorded, not required)."""
    rows = (
        await session.scalars(
            select(InstitutionAuthorisation).where(
                col(InstitutionAuthorisation.institution_id) == institution_id
            )
        )
    ).all()
    if not rows and not required:
        return None
    return Scope(
        tuple(
            Grant(
                number=r.certificate_number,
                categories=frozenset(r.categories),
                regions=tuple(r.regions),
                valid_from=r.valid_from,
                valid_until=r.valid_until,
            )
            for r in rows
            if r.revoked_at is None
        )
    )


async def _institution(session: AsyncSession, code: str) -> Organization:
    org = await get_organization_by_code(session, code)
    if org.kind != OrganizationKind.institution:
        raise InvalidAuthorisation(
            f"{code} is not a verification institution.", detail_zh=f"{org.name} 不是检定机构。"
        )
    return org


async def record_authorisation(
    session: AsyncSession, data: AuthorisationCreate, *, actor: User
) -> InstitutionAuthorisation:
    """An administrator, or a regulator whose region covers both the issuing bureau's and the
    institution's own, records one. One recorded authorisation puts an institution under the
    scope check everywhere, so a bureau elsewhere must not be able to record (and revoke) one
    for it and stop it certifying at home."""
    authorize(actor, Action.institution_scope_manage)
    institution = await _institution(session, data.institution)
    authorize(actor, Action.institution_scope_manage, region_code=data.issuer_region_code)
    authorize(actor, Action.institution_scope_manage, region_code=institution.region_code)
    errors: list[dict[str, str]] = []
    known = catalogue()
    categories = list(dict.fromkeys(c.strip() for c in data.categories))
    for code in categories:
        entry = known.get(code)
        if entry is None or entry.verification_form == "none":
            errors.append(
                {
                    "field": "categories",
                    "type": "unknown_category",
                    "message": f"{code[:40]!r} is not a verified category of the catalogue",
                    "message_zh": f"{code[:40]} 不是强制检定目录中的器具类别",
                }
            )
    regions = list(dict.fromkeys(r.strip() for r in data.regions))
    existing = set(
        (await session.scalars(select(col(Region.code)).where(col(Region.code).in_(regions)))).all()
    )
    issuer_known = await session.get(Region, data.issuer_region_code)
    if issuer_known is None:
        errors.append(
            {
                "field": "issuer_region_code",
                "type": "unknown_region",
                "message": "unknown GB/T 2260 code",
                "message_zh": "行政区划代码不存在",
            }
        )
    for code in regions:
        if code not in existing:
            errors.append(
                {
                    "field": "regions",
                    "type": "unknown_region",
                    "message": f"unknown GB/T 2260 code {code}",
                    "message_zh": f"行政区划代码 {code} 不存在",
                }
            )
        elif not covers(data.issuer_region_code, code):
            errors.append(
                {
                    "field": "regions",
                    "type": "region_outside_issuer",
                    "message": f"{code} is outside the issuing bureau's region",
                    "message_zh": f"区域 {code} 不在发证机关的辖区内",
                }
            )
    if data.valid_until < data.valid_from:
        errors.append(
            {
                "field": "valid_until",
                "type": "valid_until_before_valid_from",
                "message": "valid_until is before valid_from",
                "message_zh": "有效期至早于有效期起",
            }
        )
    if errors:
        raise InvalidAuthorisation(
            f"{len(errors)} field(s) are not valid.",
            detail_zh=f"有 {len(errors)} 项内容不符合要求。",
            errors=errors,
        )
    authorisation = InstitutionAuthorisation(
        institution_id=institution.id,
        certificate_number=data.certificate_number.strip(),
        issuer_name=data.issuer_name.strip(),
        issuer_region_code=data.issuer_region_code,
        categories=categories,
        regions=regions,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        created_by=actor.id,
    )
    # No savepoint: a duplicate ends the request, whose transaction is then rolled back whole.
    # On SQLite a savepoint opened as the transaction's first write began the transaction, and
    # releasing it committed the record before the audit entry and the request's own commit.
    session.add(authorisation)
    try:
        await session.flush()
    except IntegrityError:
        raise AuthorisationExists() from None
    await audit.record(
        session,
        actor=actor,
        action="institution.authorisation.record",
        entity_type="institution_authorisation",
        entity_id=authorisation.id,
        region_code=data.issuer_region_code,
        after={
            "institution": institution.code,
            "certificate_number": authorisation.certificate_number,
            "categories": categories,
            "regions": regions,
            "valid_from": data.valid_from.isoformat(),
            "valid_until": data.valid_until.isoformat(),
        },
    )
    return authorisation


def _check_read(actor: User, row: InstitutionAuthorisation) -> None:
    if actor.role == Role.institution:
        authorize(actor, Action.certificate_issue, organization_id=row.institution_id)
    else:
        authorize(actor, Action.institution_scope_manage, region_code=row.issuer_region_code)


async def get_authorisation(
    session: AsyncSession, authorisation_id: uuid.UUID, *, actor: User
) -> InstitutionAuthorisation:
    authorize(
        actor,
        Action.certificate_issue
        if actor.role == Role.institution
        else Action.institution_scope_manage,
    )
    row = await session.get(InstitutionAuthorisation, authorisation_id)
    if row is None:
        raise AuthorisationNotFound()
    try:
        _check_read(actor, row)
    except Forbidden:
        if actor.role in (Role.institution, Role.regulator):
            raise AuthorisationNotFound() from None
        raise
    return row


async def list_authorisations(
    session: AsyncSession, *, actor: User, page: PageRequest, institution: str | None = None
) -> tuple[list[InstitutionAuthorisation], int]:
    """The institution its own; a regulator those issued in its region and below; an
    administrator all (or one institution's)."""
    stmt = select(InstitutionAuthorisation)
    if actor.role == Role.institution:
        authorize(actor, Action.certificate_issue)
        stmt = stmt.where(col(InstitutionAuthorisation.institution_id) == actor.organization_id)
    else:
        authorize(actor, Action.institution_scope_manage)
        if actor.role != Role.admin:
            low, high = code_bounds(actor.region_code or "")
            stmt = stmt.where(
                col(InstitutionAuthorisation.issuer_region_code) >= low,
                col(InstitutionAuthorisation.issuer_region_code) < high,
            )
        if institution:
            org = await _institution(session, institution)
            stmt = stmt.where(col(InstitutionAuthorisation.institution_id) == org.id)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(
        stmt.order_by(
            col(InstitutionAuthorisation.created_at).desc(), col(InstitutionAuthorisation.id)
        )
        .limit(page.limit)
        .offset(page.offset)
    )
    return list(rows.all()), total


async def revoke_authorisation(
    session: AsyncSession, authorisation_id: uuid.UUID, *, reason: str, actor: User
) -> InstitutionAuthorisation:
    authorize(actor, Action.institution_scope_manage)
    row = await get_authorisation(session, authorisation_id, actor=actor)
    if row.revoked_at is not None:
        raise AuthorisationRevoked()
    row.revoked_at = clock.now()
    row.revoke_reason = reason.strip()
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="institution.authorisation.revoke",
        entity_type="institution_authorisation",
        entity_id=row.id,
        region_code=row.issuer_region_code,
        before={"revoked": False},
        after={"revoked": True, "reason": row.revoke_reason},
    )
    return row


async def read_models(
    session: AsyncSession, rows: list[InstitutionAuthorisation]
) -> list[AuthorisationRead]:
    orgs = {
        o.id: o
        for o in (
            await session.scalars(
                select(Organization).where(
                    col(Organization.id).in_({r.institution_id for r in rows})
                )
            )
        ).all()
    }
    known = catalogue()
    today = clock.today()
    names = await region_names(session, {c for r in rows for c in r.regions})
    result = []
    for r in rows:
        org = orgs.get(r.institution_id)
        status = (
            "revoked"
            if r.revoked_at is not None
            else "expired"
            if r.valid_until < today
            else "pending"
            if r.valid_from > today
            else "valid"
        )
        result.append(
            AuthorisationRead(
                id=r.id,
                institution=org.code if org else "",
                institution_name=org.name if org else "",
                certificate_number=r.certificate_number,
                issuer_name=r.issuer_name,
                issuer_region_code=r.issuer_region_code,
                categories=r.categories,
                category_names=[
                    (e.name if (e := known.get(c)) is not None else c) for c in r.categories
                ],
                regions=r.regions,
                region_names=[names.get(c, c) for c in r.regions],
                valid_from=r.valid_from,
                valid_until=r.valid_until,
                status=status,
                revoked_at=r.revoked_at,
                revoke_reason=r.revoke_reason,
                created_at=r.created_at,
            )
        )
    return result


async def region_names(session: AsyncSession, codes: Iterable[str]) -> dict[str, str]:
    """Full names of GB/T 2260 codes (陕西省咸阳市秦都区), for pages that list them."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = await session.execute(
        select(col(Region.code), col(Region.full_name)).where(col(Region.code).in_(wanted))
    )
    return {str(code): str(name) for code, name in rows.all()}
