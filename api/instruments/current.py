"""The copy of the registry's current certificate on each registration (models.py
``current_kind`` …), kept in the transaction that changes it.

The regional statistics (statistics.py) count registrations by state; the state needs the
current certificate of the registry instrument a registration links to. Joining the registry for
that cost seconds at a million instruments (issue 15), so each registration carries the few
columns the state needs that do not change with the date. The registry tells this domain when an
instrument's current certificate changes or is revoked (portal/facts.py ``registry_changed``);
this domain refreshes after it links a registration to a registry instrument.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.instruments.models import RegisteredInstrument
from portal import facts

_CHUNK = 500  # ids per IN list: well under SQLite's bound parameters
_table = RegisteredInstrument.__table__  # type: ignore[attr-defined]


async def refresh_current(session: AsyncSession, registry_ids: Collection[uuid.UUID]) -> None:
    """Copy the current certificate of each registry instrument in ``registry_ids`` onto every
    registration linked to it (several: an owner's successive registrations of one instrument).
    Set-based: one select and one executemany UPDATE per chunk of ids."""
    wanted = sorted(set(registry_ids))
    if not wanted:
        return
    # A link just set on a registration object must be in the database before the UPDATE.
    await session.flush()
    query = facts.current_certificates().query
    key = query.selected_columns.instrument_id
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found = {
            row.instrument_id: row
            for row in (await session.execute(query.where(key.in_(chunk)))).all()
        }
        values = []
        for instrument_id in chunk:
            row = found.get(instrument_id)
            values.append(
                {
                    "_registry": instrument_id,
                    "_kind": row.kind if row is not None else None,
                    "_verified_on": row.verified_on if row is not None else None,
                    "_valid_until": row.valid_until if row is not None else None,
                    "_revoked": row is not None and row.revoked_id is not None,
                }
            )
        await session.execute(
            update(_table)
            .where(_table.c.registry_instrument_id == bindparam("_registry"))
            .values(
                current_kind=bindparam("_kind"),
                current_verified_on=bindparam("_verified_on"),
                current_valid_until=bindparam("_valid_until"),
                current_revoked=bindparam("_revoked"),
            ),
            values,
        )
