"""Writing validated certificate rows: a few set-based statements per batch (issue and import).

An instrument's identity (owner, owner type and code, address, region, position) belongs to the
institution that registered it, the one whose certificate came first (issue 11 #2). A later
certificate from that institution may update it, and each such change is returned so the caller
records it as an audit event with the actor and the certificate as the reason. A certificate from
another institution is attached to the instrument (it may become the current one: an owner may
have the instrument verified elsewhere) but never rewrites who owns it or where it is.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Date, Uuid, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.import_rows import CertRow
from api.certificates.queries import certificates, instruments
from portal.db import UTCDateTime, utcnow

IDENTITY = ("owner_name", "owner_type", "owner_uscc", "address", "region_code")


@dataclass
class IdentityChange:
    line: int
    number: str
    instrument_id: uuid.UUID
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass
class StoreResult:
    created: list[tuple[int, uuid.UUID]] = field(default_factory=list)  # (line, certificate id)
    unchanged: list[tuple[int, uuid.UUID]] = field(default_factory=list)
    conflicts: list[tuple[int, str]] = field(default_factory=list)  # (line, number)
    identity_changes: list[IdentityChange] = field(default_factory=list)
    # (line, number): certificates attached to another institution's instrument whose owner or
    # region they state differently; the instrument kept its owner and region
    foreign_identity: list[tuple[int, str]] = field(default_factory=list)


def new_sticker_token() -> str:
    """128 random bits: unguessable, 22 URL-safe characters."""
    return secrets.token_urlsafe(16)


# The institution whose certificate for the instrument came first: the owning side.
_FIRST_INSTITUTION = (
    "SELECT f.institution_id FROM certificate f WHERE f.instrument_id = i.id "
    "ORDER BY f.created_at, f.id LIMIT 1"
)


async def _existing(
    session: AsyncSession, institution_id: uuid.UUID, numbers: list[str], serials: list[str]
) -> tuple[dict[str, tuple[uuid.UUID, str]], dict[tuple[str, str, str], dict[str, Any]]]:
    """Certificates of this institution with these numbers, and instruments with these serials."""
    existing: dict[str, tuple[uuid.UUID, str]] = {}
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        # On the driver: SQLAlchemy would compile a 2,000-parameter IN per batch and convert
        # every id of the answer; json_each() passes each list as one parameter.
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        cursor = await driver.execute(
            "SELECT number, id, content_hash FROM certificate WHERE institution_id = ? "
            "AND number IN (SELECT value FROM json_each(?))",
            (institution_id.hex, json.dumps(numbers)),
        )
        for number, id_hex, content_hash in await cursor.fetchall():
            existing[number] = (uuid.UUID(hex=id_hex), content_hash)
        cursor = await driver.execute(
            "SELECT i.id, i.category_code, i.serial, i.manufacturer, i.current_certificate_id, "
            "c.verified_on, i.owner_name, i.owner_type, i.owner_uscc, i.address, i.region_code, "
            f"({_FIRST_INSTITUTION}) FROM instrument i LEFT JOIN certificate c "
            "ON c.id = i.current_certificate_id "
            "WHERE i.serial IN (SELECT value FROM json_each(?))",
            (json.dumps(serials),),
        )
        for r in await cursor.fetchall():
            found[(r[1], r[2], r[3])] = {
                "id": uuid.UUID(hex=r[0]),
                "current": uuid.UUID(hex=r[4]) if r[4] else None,
                "current_on": date.fromisoformat(r[5]) if r[5] else None,
                "identity": dict(zip(IDENTITY, r[6:11], strict=True)),
                "owner": uuid.UUID(hex=r[11]) if r[11] else None,
            }
        return existing, found
    for r in (
        await session.execute(
            select(certificates.c.number, certificates.c.id, certificates.c.content_hash).where(
                certificates.c.institution_id == institution_id,
                certificates.c.number.in_(numbers),
            )
        )
    ).all():
        existing[r.number] = (r.id, r.content_hash)
    first = certificates.alias("first_certificate")
    owner = (
        select(first.c.institution_id)
        .where(first.c.instrument_id == instruments.c.id)
        .order_by(first.c.created_at, first.c.id)
        .limit(1)
        .scalar_subquery()
    )
    for r in (
        await session.execute(
            select(
                instruments.c.id,
                instruments.c.category_code,
                instruments.c.serial,
                instruments.c.manufacturer,
                instruments.c.current_certificate_id,
                certificates.c.verified_on,
                *(instruments.c[name] for name in IDENTITY),
                owner.label("owner"),
            )
            .select_from(
                instruments.outerjoin(
                    certificates, certificates.c.id == instruments.c.current_certificate_id
                )
            )
            .where(instruments.c.serial.in_(serials))
        )
    ).all():
        found[(r.category_code, r.serial, r.manufacturer)] = {
            "id": r.id,
            "current": r.current_certificate_id,
            "current_on": r.verified_on,
            "identity": {name: getattr(r, name) for name in IDENTITY},
            "owner": r.owner,
        }
    return existing, found


def _identity_of(row: CertRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in IDENTITY}


async def store_rows(
    session: AsyncSession,
    *,
    institution_id: uuid.UUID,
    rows: Sequence[tuple[int, CertRow]],
    actor_id: uuid.UUID | None,
) -> StoreResult:
    """Store validated rows with a few set-based statements: look up existing numbers and
    instruments for the whole batch, then bulk-insert instruments and certificates and bulk-update
    the instruments. Idempotent on institution + number."""
    result = StoreResult()
    if not rows:
        return result
    existing, instrument_rows = await _existing(
        session,
        institution_id,
        list({row.number for _, row in rows}),
        list({row.serial for _, row in rows}),
    )
    instruments_by_key: dict[tuple[str, str, str], dict[str, Any]] = {
        key: {**data, "new": False, "values": None} for key, data in instrument_rows.items()
    }
    now = utcnow()
    cert_values: list[dict[str, Any]] = []
    for line, row in rows:
        content_hash = row.content_hash()
        if row.number in existing:
            cert_id, known_hash = existing[row.number]
            if known_hash == content_hash:
                result.unchanged.append((line, cert_id))
            else:
                result.conflicts.append((line, row.number))
            continue
        cert_id = uuid.uuid4()
        existing[row.number] = (cert_id, content_hash)
        instrument = instruments_by_key.get(row.instrument_key)
        if instrument is None:
            instrument = {
                "id": uuid.uuid4(),
                "current": None,
                "current_on": None,
                "new": True,
                "values": None,
                "identity": None,
                "owner": institution_id,
            }
            instruments_by_key[row.instrument_key] = instrument
        owning = instrument["owner"] in (None, institution_id)
        stated = _identity_of(row)
        if not owning and stated != instrument["identity"]:
            result.foreign_identity.append((line, row.number))
        if instrument["current_on"] is None or row.verified_on >= instrument["current_on"]:
            # The latest verification is the instrument's current certificate; its owner and
            # place only when the owning institution states them.
            instrument["current"] = cert_id
            instrument["current_on"] = row.verified_on
            values: dict[str, Any] = instrument["values"] or {}
            values.update(model=row.model, current_certificate_id=cert_id)
            if owning:
                values.update(stated, latitude=row.latitude, longitude=row.longitude)
                before = instrument["identity"]
                if before is not None and before != stated:
                    result.identity_changes.append(
                        IdentityChange(line, row.number, instrument["id"], before, stated)
                    )
                instrument["identity"] = stated
            instrument["values"] = values
        cert_values.append(
            {
                "id": cert_id,
                "number": row.number,
                "kind": row.kind,
                "institution_id": institution_id,
                "instrument_id": instrument["id"],
                "regulation": row.regulation,
                "conclusion": row.conclusion,
                "verified_on": row.verified_on,
                "valid_until": row.valid_until,
                "verifier": row.verifier,
                "issued_by": actor_id,
                "content_hash": content_hash,
                "created_at": now,
            }
        )
        result.created.append((line, cert_id))

    new_instruments = []
    updates: dict[frozenset[str], list[dict[str, Any]]] = {}
    for (category, serial, manufacturer), data in instruments_by_key.items():
        if data["new"]:
            new_instruments.append(
                {
                    "id": data["id"],
                    "sticker_token": new_sticker_token(),
                    "category_code": category,
                    "serial": serial,
                    "manufacturer": manufacturer,
                    "created_at": now,
                    **data["values"],
                }
            )
        elif data["values"] is not None:
            # Grouped by the columns they set: owning and foreign certificates set different ones.
            updates.setdefault(frozenset(data["values"]), []).append(
                {"_id": data["id"], **data["values"]}
            )
    if new_instruments:
        await bulk_insert(session, instruments, new_instruments)
    if cert_values:
        await bulk_insert(session, certificates, cert_values)
    for columns, batch in updates.items():
        await session.execute(
            update(instruments)
            .where(instruments.c.id == bindparam("_id"))
            .values({key: bindparam(key) for key in sorted(columns)}),
            batch,
            execution_options={"synchronize_session": False},
        )
    return result


def _sqlite_converter(column: Any) -> Any:
    # The storage formats SQLAlchemy uses on SQLite (Uuid as 32 hex digits, naive UTC datetimes
    # with microseconds, ISO dates), so rows read back through the ORM are identical.
    if isinstance(column.type, Uuid):
        return lambda v: None if v is None else v.hex
    if isinstance(column.type, UTCDateTime):
        # A batch stamps every row with the same instant: format each distinct value once.
        formatted: dict[datetime, str] = {}

        def utc_text(v: datetime | None) -> str | None:
            if v is None:
                return None
            text = formatted.get(v)
            if text is None:
                text = formatted[v] = v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            return text

        return utc_text
    if isinstance(column.type, Date):
        return lambda v: None if v is None else v.isoformat()
    return None


async def bulk_insert(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert many rows on the driver: sqlite3 ``executemany`` or PostgreSQL ``COPY``, inside the
    session's transaction. An import writes two rows per certificate; SQLAlchemy's per-value
    processing would cost more than the database's own work."""
    columns = list(rows[0])
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    if connection.dialect.name == "sqlite":
        placeholders = ", ".join("?" * len(columns))
        converters = [(c, _sqlite_converter(table.c[c])) for c in columns]
        converted = [(i, f) for i, (_, f) in enumerate(converters) if f is not None]
        values: list[Any] = []
        append = values.append
        for row in rows:
            value = list(map(row.__getitem__, columns))
            for i, f in converted:
                value[i] = f(value[i])
            append(value)
        await driver.executemany(
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})", values
        )
    elif connection.dialect.name == "postgresql":
        await driver.copy_records_to_table(
            table.name, records=[tuple(row[c] for c in columns) for row in rows], columns=columns
        )
    else:
        await session.execute(insert(table), rows)
