"""Dependencies of the credit routes and pages: the workflow's clock and the acting association."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query

from credit import members
from portal import clock
from portal.accounts.models import Organization, User
from portal.accounts.permissions import Action, require
from portal.db import DbSession


async def current_time() -> datetime:
    """The credit workflow's "now": the portal's one clock (portal/clock.py). A dependency so a
    test can move the 公示 and validity windows without moving the whole portal's clock."""
    return clock.now()


Now = Annotated[datetime, Depends(current_time)]
UsccPath = Annotated[str, Path(max_length=40, description="Unified social credit code.")]
Manager = Annotated[User, Depends(require(Action.credit_manage))]
AssociationCode = Annotated[
    str | None,
    Query(
        alias="association",
        max_length=64,
        description="Association code (administrators act for an association by naming it).",
    ),
]


@dataclass(frozen=True)
class Acting:
    """Who is acting, and for which association (their own; an administrator names one)."""

    user: User
    association: Organization


async def acting(session: DbSession, actor: Manager, association: AssociationCode = None) -> Acting:
    org = await members.acting_association(session, actor, association)
    return Acting(user=actor, association=org)


ActingAssociation = Annotated[Acting, Depends(acting)]
