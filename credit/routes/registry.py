"""The enterprise registry: an enterprise's registered name comes from here (administrators,
from the market-entity register), never from an association adding a member."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from credit import members
from credit.deps import Now, UsccPath
from credit.schemas import EnterpriseRead, RegistryEntry
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession

router = APIRouter(prefix="/registry", tags=["credit-registry"])

Registrar = Annotated[User, Depends(require(Action.credit_registry))]


@router.put(
    "/{uscc}",
    response_model=EnterpriseRead,
    summary="Record an enterprise's registered name and address (administrators)",
)
async def register_enterprise(
    session: DbSession, actor: Registrar, now: Now, uscc: UsccPath, data: RegistryEntry
) -> EnterpriseRead:
    enterprise = await members.register_enterprise(
        session, actor=actor, uscc=uscc, data=data, now=now
    )
    return EnterpriseRead.model_validate(enterprise)
