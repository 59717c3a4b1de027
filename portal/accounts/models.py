from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field, SQLModel

from portal.db import UTCDateTime, new_id, utcnow


class Role(StrEnum):
    citizen = "citizen"
    institution = "institution"  # 检定机构 staff
    regulator = "regulator"  # 市场监管局 staff
    association = "association"  # 行业协会 staff
    editor = "editor"  # 科普 editor
    admin = "admin"
    owner = "owner"  # 使用单位 staff: registers its compulsory-verification instruments


class OrganizationKind(StrEnum):
    institution = "institution"
    association = "association"
    # 使用单位: a market, fuel station, hospital, taxi company or utility that owns instruments
    owner = "owner"


def enum_column(enum: type[StrEnum], *, index: bool = False) -> Column:  # type: ignore[type-arg]
    """A VARCHAR column that loads as the enum (so ``role == Role.admin`` and ``is`` both hold)."""
    return Column(
        SAEnum(enum, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        nullable=False,
        index=index,
    )


class Organization(SQLModel, table=True):
    """A verification institution, an industry association or an instrument owner (使用单位);
    staff users belong to one."""

    __tablename__ = "organization"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    kind: OrganizationKind = Field(sa_column=enum_column(OrganizationKind, index=True))
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    region_code: str = Field(foreign_key="region.code", index=True, max_length=6)
    # 计量授权证书号 for institutions; empty for associations
    authorisation_number: str | None = Field(default=None, max_length=64)
    # industry scope for associations (e.g. 成品油零售), the owner's kind of business (集贸市场,
    # 加油站, 医院, 出租汽车, 供水); empty for institutions
    industry: str | None = Field(default=None, max_length=64)
    # 统一社会信用代码 (checked, upper-case; required for owners) and the site's address
    uscc: str | None = Field(default=None, max_length=18, index=True)
    address: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class User(SQLModel, table=True):
    """An account. Satisfies fastapi-users' UserProtocol (id, email, hashed_password, flags)."""

    __tablename__ = "user_account"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    hashed_password: str = Field(max_length=1024)
    is_active: bool = True
    is_superuser: bool = False
    is_verified: bool = False
    display_name: str = Field(default="", max_length=64)
    role: Role = Field(default=Role.citizen, sa_column=enum_column(Role, index=True))
    region_code: str | None = Field(default=None, foreign_key="region.code", max_length=6)
    organization_id: uuid.UUID | None = Field(
        default=None, foreign_key="organization.id", index=True
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class RevokedToken(SQLModel, table=True):
    """A login token ended before its expiry (logout). Tokens are stateless JWTs, so ending one
    means remembering its id until it would have expired anyway; every server process checks
    this table, so a logout holds across workers. Rows past ``expires_at`` are purged."""

    __tablename__ = "revoked_token"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
