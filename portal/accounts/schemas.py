from __future__ import annotations

import unicodedata
import uuid
from typing import Any

from fastapi_users import schemas
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from portal.accounts.models import OrganizationKind, Role


def normalize_email(value: str) -> str:
    """The one form an e-mail address is stored, looked up and throttled in: NFKC (full-width
    letters and ＠ from a Chinese input method become ASCII), no surrounding spaces, lower case.
    Without it ``ＡＢＣ@example.cn`` was a second account beside ``abc@example.cn``, and on SQLite
    (whose ``lower()`` folds ASCII only) so was ``Äbc@`` beside ``äbc@``."""
    return unicodedata.normalize("NFKC", value).strip().lower()


def _normalized(value: Any) -> Any:
    return normalize_email(value) if isinstance(value, str) else value


class UserRead(schemas.BaseUser[uuid.UUID]):
    display_name: str
    role: Role
    region_code: str | None
    organization_id: uuid.UUID | None


class UserCreate(schemas.BaseUserCreate):
    """Self-registration: always a citizen. Staff accounts are created by an administrator.
    Strict: a mobile client that sends ``"is_verified": 0`` has a bug worth a 422."""

    model_config = ConfigDict(strict=True)

    email: EmailStr
    password: str = Field(min_length=8, max_length=128)
    display_name: str = Field(default="", max_length=64)

    _email = field_validator("email", mode="before")(_normalized)


class UserUpdate(schemas.BaseUserUpdate):
    """``current_password`` is required to change one's own password or e-mail
    (``UserManager.update``); it is checked, never stored."""

    model_config = ConfigDict(strict=True)

    password: str | None = Field(default=None, min_length=8, max_length=128)
    display_name: str | None = Field(default=None, max_length=64)
    current_password: str | None = Field(default=None, max_length=128)

    _email = field_validator("email", mode="before")(_normalized)

    def create_update_dict(self) -> dict[str, Any]:
        # fastapi-users leaves its create_update_dict* unannotated.
        values: dict[str, Any] = super().create_update_dict()  # type: ignore[no-untyped-call]
        values.pop("current_password", None)
        return values

    def create_update_dict_superuser(self) -> dict[str, Any]:
        values: dict[str, Any] = super().create_update_dict_superuser()  # type: ignore[no-untyped-call]
        values.pop("current_password", None)
        return values


class StaffUserCreate(BaseModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=128)
    role: Role
    region_code: str = Field(pattern=r"^\d{6}$")
    organization_code: str | None = None
    display_name: str = Field(default="", max_length=64)

    _email = field_validator("email", mode="before")(_normalized)


class OrganizationCreate(BaseModel):
    kind: OrganizationKind
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    region_code: str = Field(pattern=r"^\d{6}$")
    authorisation_number: str | None = Field(default=None, max_length=64)
    industry: str | None = Field(default=None, max_length=64)
    uscc: str | None = Field(default=None, max_length=32, description="required for owners")
    address: str | None = Field(default=None, max_length=300)


class OrganizationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: OrganizationKind
    code: str
    name: str
    region_code: str
    authorisation_number: str | None
    industry: str | None
    uscc: str | None = None
    address: str | None = None


class StaffMember(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    region_code: str | None
    organization_id: uuid.UUID | None
