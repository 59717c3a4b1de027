"""What other domains need to know of owners' registrations (portal/facts.py): which registry
instruments are out of use because their owners retired them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, case, func, select
from sqlmodel import col

from api.instruments.models import RegisteredInstrument, RegistrationStatus

_ACTIVE = (RegistrationStatus.pending, RegistrationStatus.confirmed)


def withdrawn_from_use() -> Select[Any]:
    """Registry instruments linked to a retired registration and to no pending or confirmed one
    (an instrument sold on and registered by its new owner is still in use). A rejected
    registration says nothing about use and is not counted either way."""
    linked = col(RegisteredInstrument.registry_instrument_id)
    active = func.max(case((col(RegisteredInstrument.status).in_(_ACTIVE), 1), else_=0))
    return (
        select(linked)
        .where(
            linked.is_not(None),
            col(RegisteredInstrument.status).in_([*_ACTIVE, RegistrationStatus.retired]),
        )
        .group_by(linked)
        .having(active == 0)
    )
