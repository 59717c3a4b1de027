"""Helpers for the registration tests: an owner account in 秦都区 and a registration body."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.db import Database
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
