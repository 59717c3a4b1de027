"""Helpers for the registration tests: an owner account in 秦都区 and a registration body."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.db import Database
from portal.regions.service import code_bounds
from tests.support import new_owner_uscc

_serials = itertools.count(1)


@pytest.fixture
async def owner_user(
    make_user: Callable[..., Awaitable[User]], make_org: Callable[..., Awaitable[Any]]
) -> User:
    org = await make_org(
        kind=OrganizationKind.owner,
        region="610402",
        name="咸阳市秦都区人民路农贸市场有限公司",
        uscc=new_owner_uscc("610402"),
        address="秦都区人民路 18 号",
        industry="集贸市场",
    )
    return await make_user(Role.owner, region="610402", org=org)


def registration_body(**overrides: Any) -> dict[str, Any]:
    n = next(_serials)
    body: dict[str, Any] = {
        "category_code": "scale-pc",
        "model": "ACS-15",
        "serial": f"REG{n:06d}",
        "manufacturer": "上海友声衡器有限公司",
        "location": f"{n} 号摊位",
        "usage_area": "贸易结算",
    }
    body.update(overrides)
    return body


async def owner_uscc(database: Database, user: User) -> str:
    """The owner's credit code: a certificate for its registered instrument names it (one naming
    another code is held for the bureau, tests/api/instruments/test_certificate_review.py)."""
    async with database.sessionmaker() as session:
        org = await session.get(Organization, user.organization_id)
    assert org is not None
    assert org.uscc
    return org.uscc


async def org_code(database: Database, user: User) -> str:
    """The code of the user's organisation (what an application names its institution by)."""
    async with database.sessionmaker() as session:
        org = await session.get(Organization, user.organization_id)
    assert org is not None
    return org.code


async def current_copies(database: Database) -> dict[str, tuple[Any, ...]]:
    """Each registration's copy of its current certificate (registration id → kind, verified
    on, valid until, revoked), after asserting that every copy equals the registry's current certificate
    read afresh (portal/facts.py ``current_certificates``): the statistics count from the copy."""
    from sqlalchemy import select
    from sqlmodel import col

    from api.instruments.models import RegisteredInstrument
    from portal import facts

    r = RegisteredInstrument
    cur = facts.current_certificates().query.subquery("cur")
    async with database.sessionmaker() as session:
        rows = (
            await session.execute(
                select(
                    col(r.id),
                    col(r.status),
                    col(r.current_kind),
                    col(r.current_verified_on),
                    col(r.current_valid_until),
                    col(r.current_revoked),
                    cur.c.kind,
                    cur.c.verified_on,
                    cur.c.valid_until,
                    cur.c.revoked_id,
                )
                .select_from(r)
                .outerjoin(cur, cur.c.instrument_id == col(r.registry_instrument_id))
                .order_by(col(r.created_at))
            )
        ).all()
    copies: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        copy = (row[2], row[3], row[4], bool(row[5]))
        truth = (row[6], row[7], row[8], row[9] is not None)
        assert copy == truth, (row[0], row[1], copy, truth)
        copies[str(row[0])] = copy
    return copies


async def _months_by_join(session: Any, *, region: str, today: Any) -> dict[int, tuple[int, int]]:
    """The statistics' verifications by month as they were counted before the copy: every
    certificate of the registry joined to the registrations of the region (the reference)."""
    from sqlalchemy import case, func, literal, select
    from sqlmodel import col

    from api.instruments import statistics
    from api.instruments.models import RegisteredInstrument
    from portal import facts

    r = RegisteredInstrument
    verified = facts.registry_verifications().subquery("verified")
    bounds = statistics.month_starts(today)
    month = statistics._month_index(verified.c.verified_on, bounds).label("month")
    low, high = code_bounds(region)
    linked = (
        select(literal(1))
        .where(
            col(r.registry_instrument_id) == verified.c.instrument_id,
            col(r.region_code) >= low,
            col(r.region_code) < high,
        )
        .exists()
    )
    rows = await session.execute(
        select(month, func.count(), func.sum(case((verified.c.kind == "notice", 1), else_=0)))
        .where(verified.c.verified_on >= bounds[0], verified.c.verified_on <= today, linked)
        .group_by(month)
    )
    return {int(row[0]): (int(row[1]), int(row[2] or 0)) for row in rows.all()}


async def verification_copies(database: Database) -> set[tuple[Any, ...]]:
    """The copy of the registry's certificates per region (models.py ``RegisteredVerification``)
    as rows (certificate id, region, registry instrument, verified on, failed, previous region),
    after asserting that it equals a join of the registry's certificates with the registrations'
    regions read afresh, and that the statistics' months of every region those are in, and of
    their cities and provinces, equal the months the join counts (each certificate once)."""
    from sqlalchemy import select
    from sqlmodel import col

    from api.instruments import statistics
    from api.instruments.models import RegisteredInstrument, RegisteredVerification
    from portal import clock, facts

    r, v = RegisteredInstrument, RegisteredVerification
    verified = facts.registry_verifications().subquery("verified")
    async with database.sessionmaker() as session:
        joined = (
            await session.execute(
                select(
                    verified.c.certificate_id,
                    col(r.region_code),
                    verified.c.instrument_id,
                    verified.c.verified_on,
                    verified.c.kind,
                )
                .join_from(verified, r, col(r.registry_instrument_id) == verified.c.instrument_id)
                .distinct()
            )
        ).all()
        regions_of: dict[Any, set[str]] = {}
        for row in joined:
            regions_of.setdefault(row[2], set()).add(row[1])
        truth = set()
        for certificate_id, region, instrument_id, verified_on, kind in joined:
            below = [code for code in regions_of[instrument_id] if code < region]
            truth.add(
                (
                    certificate_id,
                    region,
                    instrument_id,
                    verified_on,
                    kind == "notice",
                    max(below) if below else None,
                )
            )
        copy = {
            tuple(row)
            for row in (
                await session.execute(
                    select(
                        col(v.certificate_id),
                        col(v.region_code),
                        col(v.registry_instrument_id),
                        col(v.verified_on),
                        col(v.failed),
                        col(v.previous_region),
                    )
                )
            ).all()
        }
        assert copy == truth, (copy - truth, truth - copy)
        today = clock.today()
        codes = {code for codes in regions_of.values() for code in codes}
        for code in sorted(codes | {c[:4] + "00" for c in codes} | {c[:2] + "0000" for c in codes}):
            counted = await statistics.verifications_by_month(session, region=code, today=today)
            assert counted == await _months_by_join(session, region=code, today=today), code
    return copy
