"""The copy of the registry's current certificate on each registration (models.py
``current_kind`` …) and of the certificates of the instruments registered in each region
(models.py ``RegisteredVerification``), kept in the transaction that changes them.

The regional statistics (statistics.py) count registrations by state; the state needs the
current certificate of the registry instrument a registration links to. Joining the registry for
that cost seconds at a million instruments (issue 15), so each registration carries the few
columns the state needs that do not change with the date. The registry tells this domain when an
instrument's current certificate changes or is revoked (portal/facts.py ``registry_changed``);
this domain refreshes after it links a registration to a registry instrument. The months of the
statistics count the verifications of the region's instruments; the registry tells this domain
of every certificate added (portal/facts.py ``registry_changed``), and the copy of an
instrument's certificates is rewritten whole on each refresh, so it cannot drift from the
registry and the registrations' regions (tests/api/instruments/support.py
``verification_copies`` holds it equal to a join of the two).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import bindparam, delete, func, select, true, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.instruments.models import RegisteredInstrument, RegisteredVerification
from portal import facts

_CHUNK = 500  # ids per IN list: well under SQLite's bound parameters
_table = RegisteredInstrument.__table__  # type: ignore[attr-defined]
_verifications = RegisteredVerification.__table__  # type: ignore[attr-defined]


async def refresh_current(session: AsyncSession, registry_ids: Collection[uuid.UUID]) -> None:
    """Copy the current certificate of each registry instrument in ``registry_ids`` onto every
    registration linked to it (several: an owner's successive registrations of one instrument).
    Set-based: one select and one executemany UPDATE per chunk of ids; then their certificates
    once per region they are registered in (``refresh_verifications``)."""
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
    await refresh_verifications(session, wanted)


async def refresh_verifications(session: AsyncSession, registry_ids: Collection[uuid.UUID]) -> None:
    """Rewrite the copy of the certificates of each registry instrument in ``registry_ids``: one
    row per certificate and region a registration of the instrument is in (whatever its state,
    as the statistics count), with the next lower such region. Set-based: one DELETE and one
    INSERT … SELECT per chunk of ids."""
    wanted = sorted(set(registry_ids))
    if not wanted:
        return
    await session.flush()
    r, v = _table, _verifications
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        await session.execute(delete(v).where(v.c.registry_instrument_id.in_(chunk)))
        pairs = (
            select(r.c.registry_instrument_id, r.c.region_code)
            .where(r.c.registry_instrument_id.in_(chunk))
            .distinct()
            .subquery("pairs")
        )
        regions = select(
            pairs.c.registry_instrument_id,
            pairs.c.region_code,
            func.lag(pairs.c.region_code)
            .over(partition_by=pairs.c.registry_instrument_id, order_by=pairs.c.region_code)
            .label("previous_region"),
        ).subquery("regions")
        query = facts.registry_verifications()
        certificates = query.where(query.selected_columns.instrument_id.in_(chunk)).subquery("c")
        upsert = (
            postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        )
        stmt = upsert(v).from_select(
            [
                "certificate_id",
                "region_code",
                "registry_instrument_id",
                "verified_on",
                "failed",
                "previous_region",
            ],
            select(
                certificates.c.certificate_id,
                regions.c.region_code,
                certificates.c.instrument_id,
                certificates.c.verified_on,
                certificates.c.kind == "notice",
                regions.c.previous_region,
            )
            .join_from(
                certificates,
                regions,
                regions.c.registry_instrument_id == certificates.c.instrument_id,
            )
            .where(true()),  # SQLite: an upsert's SELECT with a join needs a WHERE
        )
        # Two transactions refreshing one instrument at once (PostgreSQL, read committed): the
        # second's DELETE does not see the rows the first inserted, so its INSERT meets them;
        # both derive the rows from the same registry, so the later one's values stand.
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[v.c.certificate_id, v.c.region_code],
                set_={
                    "registry_instrument_id": stmt.excluded.registry_instrument_id,
                    "verified_on": stmt.excluded.verified_on,
                    "failed": stmt.excluded.failed,
                    "previous_region": stmt.excluded.previous_region,
                },
            )
        )
