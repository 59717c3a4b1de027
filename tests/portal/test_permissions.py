"""The permission matrix: role × region × action, plus organisation scoping, and one endpoint."""

from __future__ import annotations

import itertools
import uuid

import httpx
import pytest

from portal.accounts.models import Role, User
from portal.accounts.permissions import (
    ACTION_ROLES,
    ORGANIZATION_SCOPED,
    Action,
    authorize,
)
from portal.errors import Forbidden, RegionForbidden
from portal.regions.service import covers
from tests.support import MakeUser, assert_problem

# (actor region, target region, allowed?) — 咸阳市 covers its districts, never 西安市 or 陕西省.
REGION_CASES = [
    ("610400", "610400", True),
    ("610400", "610402", True),
    ("610400", "610481", True),
    ("610400", "610100", False),
    ("610400", "610102", False),
    ("610400", "610000", False),
    ("610402", "610402", True),
    ("610402", "610403", False),
    ("610402", "610400", False),
    ("610000", "610402", True),
    ("610000", "620100", False),
    ("110000", "110101", True),
    ("420000", "429004", True),  # province-managed county-level city 仙桃市
]


@pytest.mark.parametrize(("actor", "target", "allowed"), REGION_CASES)
def test_region_covers(actor: str, target: str, allowed: bool) -> None:
    assert covers(actor, target) is allowed


def _user(role: Role, region: str | None, org: uuid.UUID | None = None) -> User:
    return User(
        email=f"{role}@example.cn",
        hashed_password="x",
        role=role,
        region_code=region,
        organization_id=org,
    )


MATRIX = list(itertools.product(Role, Action, REGION_CASES))


@pytest.mark.parametrize(("role", "action", "region_case"), MATRIX)
def test_matrix(role: Role, action: Action, region_case: tuple[str, str, bool]) -> None:
    actor_region, target_region, region_ok = region_case
    actor = _user(role, actor_region)
    role_ok = role == Role.admin or role in ACTION_ROLES[action]
    expected = role_ok and (role == Role.admin or region_ok)
    if expected:
        authorize(actor, action, region_code=target_region)
        return
    with pytest.raises(Forbidden) as raised:
        authorize(actor, action, region_code=target_region)
    if role_ok:
        assert isinstance(raised.value, RegionForbidden)
        assert raised.value.status == 403
        assert raised.value.code == "region_forbidden"


@pytest.mark.parametrize("action", sorted(ORGANIZATION_SCOPED))
def test_organization_scoped_actions(action: Action) -> None:
    own, other = uuid.uuid4(), uuid.uuid4()
    role = next(iter(ACTION_ROLES[action]))
    actor = _user(role, "610400", own)
    authorize(actor, action, region_code="610402", organization_id=own)
    with pytest.raises(Forbidden) as raised:
        authorize(actor, action, region_code="610402", organization_id=other)
    assert raised.value.code == "organization_forbidden"
    # An administrator is not bound to an organisation.
    authorize(_user(Role.admin, None), action, organization_id=other)


def test_staff_without_region_is_refused_regional_actions() -> None:
    with pytest.raises(RegionForbidden):
        authorize(_user(Role.regulator, None), Action.case_handle, region_code="610402")


async def test_regulator_of_xianyang_is_refused_on_xian(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers
) -> None:
    xianyang = await make_user(Role.regulator, region="610400")
    xian_staff = await make_user(Role.regulator, region="610100")
    headers = await auth_headers(xianyang)

    problem = assert_problem(
        await client.get("/api/v1/regions/610100/staff", headers=headers), 403, "region_forbidden"
    )
    assert "610100" in problem["detail"]
    assert problem["detail_zh"]

    own = await client.get("/api/v1/regions/610402/staff", headers=headers)
    assert own.status_code == 200
    whole_city = await client.get("/api/v1/regions/610400/staff", headers=headers)
    emails = {member["email"] for member in whole_city.json()}
    assert xianyang.email in emails
    assert xian_staff.email not in emails


async def test_citizen_and_anonymous_cannot_list_staff(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers
) -> None:
    citizen = await make_user(Role.citizen, region="610402")
    assert_problem(await client.get("/api/v1/regions/610402/staff"), 401, "not_authenticated")
    assert_problem(
        await client.get("/api/v1/regions/610402/staff", headers=await auth_headers(citizen)),
        403,
        "forbidden",
    )
