"""Members of an association, the registry of enterprise names, and the indicators an
association enters for its members.

An enterprise may belong to several associations. Each association keeps its own label for its
member (``Membership.name``); the enterprise's registered name comes only from the registry
(``register_enterprise``: an administrator's entry or an import), never from whichever
association typed the code first."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from stdnum.cn import uscc as uscc_number
from stdnum.exceptions import ValidationError as StdnumValidationError

from credit import errors
from credit.methodologies import methodology_for
from credit.models import Enterprise, IndicatorEntry, Membership
from credit.schemas import EnterpriseCreate, IndicatorValues, RegistryEntry
from credit.scoring import Method
from portal import clock
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.accounts.permissions import Action, OrganizationForbidden, authorize
from portal.accounts.service import get_organization_by_code
from portal.audit import service as audit
from portal.regions.service import get_region


@dataclass(frozen=True)
class MemberRow:
    """One current member as its association sees it."""

    enterprise: Enterprise
    membership: Membership
    indicators: dict[str, bool] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.membership.name


def validate_uscc(value: str) -> str:
    """The code in its canonical form (upper case, no separators), or 422 ``invalid_uscc``."""
    try:
        return str(uscc_number.validate(value))
    except StdnumValidationError as exc:
        raise errors.InvalidUscc(
            f"{value!r} is not a valid unified social credit code ({exc}).",
            detail_zh=f"“{value}”不是有效的统一社会信用代码（18 位，末位为校验码）。",
        ) from exc


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


async def get_enterprise(session: AsyncSession, uscc: str) -> Enterprise:
    code = validate_uscc(uscc)
    enterprise = await session.get(Enterprise, code)
    if enterprise is None:
        raise errors.EnterpriseNotFound(
            f"No enterprise with code {code}.",
            detail_zh=f"未找到统一社会信用代码为 {code} 的企业。",
        )
    return enterprise


async def membership_of(
    session: AsyncSession, association: Organization, uscc: str
) -> Membership | None:
    return await session.scalar(
        select(Membership).where(
            Membership.association_id == association.id, Membership.uscc == uscc
        )
    )


async def require_member(session: AsyncSession, association: Organization, uscc: str) -> str:
    code = validate_uscc(uscc)
    membership = await membership_of(session, association, code)
    if membership is None or membership.left_on is not None:
        raise errors.NotAMember(
            f"{code} is not a member of {association.code}.",
            detail_zh=f"企业 {code} 不是{association.name}的会员。",
        )
    return code


async def _insert_or_keep(session: AsyncSession, row: Any, keys: list[str]) -> bool:
    """Insert ``row`` unless a row with the same ``keys`` exists (INSERT … ON CONFLICT DO
    NOTHING, on SQLite and PostgreSQL): a concurrent insert is waited for, then kept. Returns
    whether this one was inserted."""
    table = type(row).__table__
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {c.name: getattr(row, c.name) for c in table.columns}
    result = await session.execute(
        insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def add_member(
    session: AsyncSession,
    *,
    actor: User | None,
    association: Organization,
    data: EnterpriseCreate,
    now: datetime | None = None,
) -> MemberRow:
    """Add a member. The name given is this association's label for it; the enterprise's
    registered name is left to the registry."""
    now = now or clock.now()
    code = validate_uscc(data.uscc)
    await get_region(session, data.region_code)
    label = data.name.strip()
    enterprise = await session.get(Enterprise, code)
    if enterprise is None:
        # Two associations adding the same new enterprise at once: the second waits for the
        # first's row and keeps it (a plain INSERT failed its request with a 409 conflict).
        new = Enterprise(
            uscc=code,
            name=None,
            industry=data.industry or association.industry,
            region_code=data.region_code,
            address=data.address.strip(),
        )
        await _insert_or_keep(session, new, ["uscc"])
        enterprise = await session.get(Enterprise, code)
        assert enterprise is not None
    membership = await membership_of(session, association, code)
    if membership is not None and membership.left_on is None:
        raise errors.AlreadyAMember(detail_zh=f"企业 {code} 已是本协会会员。")
    joined = data.joined_on or clock.local_date(now)
    if membership is None:
        # The same member added twice at once: the second finds the first's row and is
        # already_a_member, not a generic conflict.
        row = Membership(association_id=association.id, uscc=code, name=label, joined_on=joined)
        if not await _insert_or_keep(session, row, ["association_id", "uscc"]):
            raise errors.AlreadyAMember(detail_zh=f"企业 {code} 已是本协会会员。")
        membership = await membership_of(session, association, code)
        assert membership is not None
    else:
        membership.left_on = None
        membership.joined_on = joined
        membership.name = label
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="credit.member.add",
        entity_type="credit_enterprise",
        entity_id=code,
        region_code=enterprise.region_code,
        after={
            "association": association.code,
            "name": label,
            "region_code": enterprise.region_code,
            "joined_on": joined,
        },
    )
    return MemberRow(enterprise, membership)


async def remove_member(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    uscc: str,
    now: datetime | None = None,
) -> None:
    code = await require_member(session, association, uscc)
    membership = await membership_of(session, association, code)
    assert membership is not None
    membership.left_on = clock.local_date(now or clock.now())
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


async def register_enterprise(
    session: AsyncSession,
    *,
    actor: User | None,
    uscc: str,
    data: RegistryEntry,
    now: datetime | None = None,
) -> Enterprise:
    """Record the registered name (and address, region) of an enterprise from the registry:
    an administrator's entry or an import of the market-entity register. The only writer of
    ``Enterprise.name``."""
    now = now or clock.now()
    code = validate_uscc(uscc)
    await get_region(session, data.region_code)
    enterprise = await session.get(Enterprise, code)
    before: dict[str, Any] | None = None
    if enterprise is None:
        enterprise = Enterprise(uscc=code, region_code=data.region_code)
        session.add(enterprise)
    else:
        before = {
            "name": enterprise.name,
            "region_code": enterprise.region_code,
            "address": enterprise.address,
        }
    enterprise.name = data.name.strip()
    enterprise.region_code = data.region_code
    enterprise.address = data.address.strip()
    if data.industry is not None:
        enterprise.industry = data.industry
    enterprise.registry_source = data.source
    enterprise.registered_at = now
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="credit.registry.set",
        entity_type="credit_enterprise",
        entity_id=code,
        region_code=enterprise.region_code,
        before=before,
        after={
            "name": enterprise.name,
            "region_code": enterprise.region_code,
            "source": data.source,
        },
    )
    return enterprise


async def load_entries(
    session: AsyncSession, association_id: uuid.UUID, usccs: Sequence[str] | None = None
) -> dict[tuple[str, str], bool]:
    stmt = select(IndicatorEntry.uscc, IndicatorEntry.indicator, IndicatorEntry.value).where(
        IndicatorEntry.association_id == association_id
    )
    if usccs is not None:
        stmt = stmt.where(col(IndicatorEntry.uscc).in_(list(usccs)))
    return {(u, i): bool(v) for u, i, v in (await session.execute(stmt)).all()}


async def list_members(session: AsyncSession, association: Organization) -> list[MemberRow]:
    rows = (
        await session.execute(
            select(Enterprise, Membership)
            .join(Membership, col(Membership.uscc) == col(Enterprise.uscc))
            .where(Membership.association_id == association.id, col(Membership.left_on).is_(None))
            .order_by(col(Membership.name))
        )
    ).all()
    entries = await load_entries(session, association.id)
    by_uscc: dict[str, dict[str, bool]] = defaultdict(dict)
    for (uscc, indicator), value in entries.items():
        by_uscc[uscc][indicator] = value
    return [MemberRow(e, m, by_uscc.get(e.uscc, {})) for e, m in rows]


async def write_entries(
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
    await write_entries(
        session,
        actor=actor,
        association=association,
        uscc=code,
        values=data.values,
        note=data.note,
        now=now or clock.now(),
    )
    entries = await load_entries(session, association.id, [code])
    return {indicator: value for (_, indicator), value in entries.items()}


def shown_name(association_id: Any, uscc: Any) -> tuple[Any, Any]:
    """The name shown beside one association's score or grade for a member: the registered
    name when the registry knows the enterprise, else that association's own label. Returns
    the column and the join condition for ``outerjoin(Membership, …)``."""
    column = func.coalesce(col(Enterprise.name), col(Membership.name), uscc).label("shown_name")
    joined = and_(col(Membership.association_id) == association_id, col(Membership.uscc) == uscc)
    return column, joined
