"""What other domains need to know of owners' registrations (portal/facts.py): which registry
instruments are out of use because their owners retired them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import aliased
from sqlmodel import col

from api.instruments.models import RegisteredInstrument, RegistrationStatus

_ACTIVE = (RegistrationStatus.pending, RegistrationStatus.confirmed)


def withdrawn_from_use() -> Select[Any]:
    """Registry instruments linked to a retired registration and to no pending or confirmed one
    (an instrument sold on and registered by its new owner is still in use). A rejected
    registration says nothing about use and is not counted either way. Starts from the retired
    registrations (few) and looks each one's instrument up by the index on the link."""
    retired = aliased(RegisteredInstrument)
    active = aliased(RegisteredInstrument)
    linked = col(retired.registry_instrument_id)
    still_used = (
        select(col(active.id))
        .where(
            col(active.registry_instrument_id) == linked,
            col(active.status).in_(_ACTIVE),
        )
        .exists()
    )
    return select(linked).where(
        col(retired.status) == RegistrationStatus.retired, linked.is_not(None), ~still_used
    )
