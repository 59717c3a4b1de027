from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from portal.accounts import service
from portal.accounts.auth import bearer_backend, cookie_backend, fastapi_users
from portal.accounts.models import User
from portal.accounts.permissions import Action, authorize, require
from portal.accounts.schemas import (
    OrganizationCreate,
    OrganizationRead,
    StaffMember,
    StaffUserCreate,
    UserCreate,
    UserRead,
    UserUpdate,
)
from portal.db import DbSession
from portal.regions.routes import RegionCode
from portal.regions.service import require_region

router = APIRouter()
router.include_router(
    fastapi_users.get_auth_router(bearer_backend), prefix="/api/v1/auth/jwt", tags=["auth"]
)
router.include_router(
    fastapi_users.get_auth_router(cookie_backend), prefix="/api/v1/auth/cookie", tags=["auth"]
)
router.include_router(
    fastapi_users.get_register_router(UserRead, UserCreate), prefix="/api/v1/auth", tags=["auth"]
)
router.include_router(
    fastapi_users.get_users_router(UserRead, UserUpdate), prefix="/api/v1/users", tags=["users"]
)

AdminUser = Annotated[User, Depends(require(Action.user_manage))]
StaffViewer = Annotated[User, Depends(require(Action.staff_view))]


@router.post(
    "/api/v1/admin/organizations",
    response_model=OrganizationRead,
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
    summary="Create a verification institution or an industry association",
)
async def create_organization(
    session: DbSession, actor: AdminUser, data: OrganizationCreate
) -> OrganizationRead:
    org = await service.create_organization(session, data, actor=actor)
    return OrganizationRead.model_validate(org)


@router.post(
    "/api/v1/admin/users",
    response_model=StaffMember,
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
    summary="Create a staff account",
)
async def create_staff_user(
    session: DbSession, actor: AdminUser, data: StaffUserCreate
) -> StaffMember:
    user = await service.create_staff_user(session, data, actor=actor)
    return StaffMember.model_validate(user)


@router.get(
    "/api/v1/regions/{code}/staff",
    response_model=list[StaffMember],
    tags=["regions"],
    summary="Staff accounts in a division and below (regulators of that division)",
)
async def list_region_staff(
    session: DbSession, actor: StaffViewer, code: RegionCode
) -> list[StaffMember]:
    await require_region(session, code)
    authorize(actor, Action.staff_view, region_code=code)
    return [
        StaffMember.model_validate(u) for u in await service.list_staff(session, region_code=code)
    ]
