"""Organisations and staff accounts (created by administrators and the CLI, never self-registered)."""

from __future__ import annotations

from fastapi_users.password import PasswordHelper
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from stdnum.cn import uscc as uscc_check

from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.accounts.schemas import OrganizationCreate, StaffUserCreate
from portal.audit import service as audit
from portal.errors import Conflict, InvalidInput, NotFound
from portal.regions.service import get_region, significant_prefix

_password_helper = PasswordHelper()

# Which organisation kind a staff role must belong to.
ROLE_ORGANIZATION: dict[Role, OrganizationKind] = {
    Role.institution: OrganizationKind.institution,
    Role.association: OrganizationKind.association,
    Role.owner: OrganizationKind.owner,
}


class InvalidUscc(InvalidInput):
    code = "invalid_uscc"
    title = "Not a valid unified social credit code"
    title_zh = "统一社会信用代码无效"


def checked_uscc(value: str | None, *, required: bool) -> str | None:
    """The code in its compact upper-case form, once its GB 32100 check digit holds (an owner
    is known by it: the registration 强制检定的工作计量器具检定管理办法 asks for names the unit)."""
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidUscc(
                "An owner needs its unified social credit code.",
                detail_zh="使用单位须填写统一社会信用代码。",
            )
        return None
    compact = uscc_check.compact(text).upper()
    if not uscc_check.is_valid(compact):
        raise InvalidUscc(detail_zh=f"{text} 不是有效的统一社会信用代码（校验位不符）。")
    return compact


class OrganizationNotFound(NotFound):
    code = "organization_not_found"
    title = "Organisation not found"
    title_zh = "机构不存在"


class EmailTaken(Conflict):
    code = "email_taken"
    title = "An account with this e-mail exists"
    title_zh = "该邮箱已注册"


class OrganizationCodeTaken(Conflict):
    code = "organization_code_taken"
    title = "An organisation with this code exists"
    title_zh = "机构代码已存在"


async def get_organization_by_code(session: AsyncSession, code: str) -> Organization:
    org: Organization | None = await session.scalar(
        select(Organization).where(Organization.code == code)
    )
    if org is None:
        raise OrganizationNotFound(
            f"No organisation has code {code!r}.", detail_zh=f"机构 {code} 不存在。"
        )
    return org


async def create_organization(
    session: AsyncSession, data: OrganizationCreate, *, actor: User | None
) -> Organization:
    await get_region(session, data.region_code)
    if await session.scalar(select(Organization.id).where(Organization.code == data.code)):
        raise OrganizationCodeTaken(detail_zh=f"机构代码 {data.code} 已存在。")
    data = data.model_copy(
        update={"uscc": checked_uscc(data.uscc, required=data.kind == OrganizationKind.owner)}
    )
    org = Organization(**data.model_dump())
    session.add(org)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="organization.create",
        entity_type="organization",
        entity_id=org.id,
        region_code=org.region_code,
        after=data.model_dump(),
    )
    return org


async def create_staff_user(
    session: AsyncSession, data: StaffUserCreate, *, actor: User | None
) -> User:
    await get_region(session, data.region_code)
    email = data.email.lower()
    if await session.scalar(select(User.id).where(func.lower(col(User.email)) == email)):
        raise EmailTaken(detail_zh=f"邮箱 {email} 已注册。")
    organization_id = None
    expected_kind = ROLE_ORGANIZATION.get(data.role)
    if expected_kind is not None:
        if data.organization_code is None:
            raise InvalidInput(
                f"Role {data.role} requires an organisation code.",
                detail_zh="该角色必须属于一个机构或协会。",
                errors=[{"field": "organization_code", "type": "missing", "message": "required"}],
            )
        org = await get_organization_by_code(session, data.organization_code)
        if org.kind != expected_kind:
            raise InvalidInput(
                f"Organisation {org.code} is a {org.kind}, not a {expected_kind}.",
                detail_zh="角色与机构类型不符。",
                errors=[{"field": "organization_code", "type": "kind", "message": org.kind}],
            )
        organization_id = org.id
    user = User(
        email=email,
        hashed_password=_password_helper.hash(data.password),
        role=data.role,
        region_code=data.region_code,
        organization_id=organization_id,
        display_name=data.display_name,
        is_verified=True,
        is_superuser=data.role is Role.admin,
    )
    session.add(user)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="user.create",
        entity_type="user",
        entity_id=user.id,
        region_code=user.region_code,
        after={"email": email, "role": data.role, "organization_code": data.organization_code},
    )
    return user


async def list_staff(session: AsyncSession, *, region_code: str) -> list[User]:
    prefix = significant_prefix(region_code)
    stmt = (
        select(User)
        .where(User.role != Role.citizen, col(User.region_code).startswith(prefix))
        .order_by(User.region_code, User.email)
    )
    return list((await session.scalars(stmt)).all())
