"""Writing validated certificate rows: a few set-based statements per batch (issue and import).

An instrument's identity (owner, owner type and code, address, region, position) belongs to the
institution that registered it, the one whose certificate came first (issue 11 #2). A later
certificate from that institution may update it, and each such change is returned so the caller
records it as an audit event with the actor and the certificate as the reason. A certificate from
another institution is attached to the instrument (it may become the current one: an owner may
have the instrument verified elsewhere) but never rewrites who owns it or where it is.
"""

from __future__ import annotations

import base64
import json
import operator
import os
import secrets
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from asyncpg.exceptions import IntegrityConstraintViolationError
from sqlalchemy import Date, Uuid, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.import_rows import CertRow, FieldError
from api.certificates.queries import certificates, instruments, reviews
from api.certificates.scope import Scope
from portal import facts
from portal.db import UTCDateTime, one_of, utcnow, written

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
    # (line, error): outside the institution's authorisation (scope.py); nothing stored
    out_of_scope: list[tuple[int, FieldError]] = field(default_factory=list)
    # (line, review id, reason): stored but held for the bureau (review_queue.py); a repeat of a
    # held row is held again, not stored twice
    held: list[tuple[int, uuid.UUID, str]] = field(default_factory=list)


def new_sticker_token() -> str:
    """128 random bits: unguessable, 22 URL-safe characters."""
    return secrets.token_urlsafe(16)


def new_sticker_tokens(count: int) -> list[str]:
    """``count`` tokens as ``new_sticker_token`` makes them, from one read of os.urandom."""
    data = os.urandom(16 * count)
    encode = base64.urlsafe_b64encode
    return [encode(data[i : i + 16]).rstrip(b"=").decode("ascii") for i in range(0, 16 * count, 16)]


_RANDOM_42 = (1 << 42) - 1


def new_ids(count: int, now: datetime) -> list[uuid.UUID]:
    """``count`` time-ordered UUIDs (version 7, RFC 9562): the millisecond of ``now``, then a
    32-bit counter in this call's order (RFC 9562 §6.2, method 1), then 42 random bits. A bulk
    import's rows then append to the primary key's and the references' B-trees instead of landing
    at random pages of them: SQLite's inserts took about a third less time (version 4 ids before).
    Made as uuid.UUID makes them, without its constructor's checks in Python (they cost a bulk
    import more per row than hashing)."""
    prefix = (int(now.timestamp() * 1000) & ((1 << 48) - 1)) << 80 | 7 << 76 | 2 << 62
    data = os.urandom(8 * count)
    new = object.__new__
    set_ = object.__setattr__
    from_bytes = int.from_bytes
    unknown = uuid.SafeUUID.unknown
    ids = []
    for i in range(count):
        value = new(uuid.UUID)
        set_(
            value,
            "int",
            prefix
            | (i >> 20) << 64
            | (i & 0xFFFFF) << 42
            | from_bytes(data[8 * i : 8 * i + 8]) & _RANDOM_42,
        )
        set_(value, "is_safe", unknown)
        ids.append(value)
    return ids


# The institution whose certificate for the instrument came first: the owning side.
_FIRST_INSTITUTION = (
    "SELECT f.institution_id FROM certificate f WHERE f.instrument_id = i.id "
    "ORDER BY f.created_at, f.id LIMIT 1"
)


async def _existing(
    session: AsyncSession, institution_id: uuid.UUID, numbers: list[str], serials: list[str]
) -> tuple[
    dict[str, tuple[uuid.UUID, str]],
    dict[tuple[str, str, str], list[dict[str, Any]]],
    set[str],
]:
    """Certificates of this institution with these numbers (held ones too), and instruments with
    these serials (each key's variants, variant 0 first)."""
    existing: dict[str, tuple[uuid.UUID, str]] = {}
    found: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in (
        await session.execute(
            select(reviews.c.number, reviews.c.id, reviews.c.content_hash).where(
                reviews.c.institution_id == institution_id,
                one_of(reviews.c.number, numbers, session),
            )
        )
    ).all():
        existing[r.number] = (r.id, r.content_hash)
    held = set(existing)
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
            f"({_FIRST_INSTITUTION}), i.variant FROM instrument i LEFT JOIN certificate c "
            "ON c.id = i.current_certificate_id "
            "WHERE i.serial IN (SELECT value FROM json_each(?)) ORDER BY i.variant",
            (json.dumps(serials),),
        )
        for r in await cursor.fetchall():
            found.setdefault((r[1], r[2], r[3]), []).append(
                {
                    "id": uuid.UUID(hex=r[0]),
                    "current": uuid.UUID(hex=r[4]) if r[4] else None,
                    "current_on": date.fromisoformat(r[5]) if r[5] else None,
                    "identity": dict(zip(IDENTITY, r[6:11], strict=True)),
                    "owner": uuid.UUID(hex=r[11]) if r[11] else None,
                    "variant": r[12],
                }
            )
        return existing, found, held
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
                instruments.c.variant,
            )
            .select_from(
                instruments.outerjoin(
                    certificates, certificates.c.id == instruments.c.current_certificate_id
                )
            )
            .where(instruments.c.serial.in_(serials))
            .order_by(instruments.c.variant)
        )
    ).all():
        found.setdefault((r.category_code, r.serial, r.manufacturer), []).append(
            {
                "id": r.id,
                "current": r.current_certificate_id,
                "current_on": r.verified_on,
                "identity": {name: getattr(r, name) for name in IDENTITY},
                "owner": r.owner,
                "variant": r.variant,
            }
        )
    return existing, found, held


def _identity_of(row: CertRow) -> dict[str, Any]:
    return {
        "owner_name": row.owner_name,
        "owner_type": row.owner_type,
        "owner_uscc": row.owner_uscc,
        "address": row.address,
        "region_code": row.region_code,
    }


def same_owner(uscc_a: str | None, name_a: str, uscc_b: str | None, name_b: str) -> bool:
    """Whether two statements name the same owner: by the credit code when both give one, else
    by the name."""
    if uscc_a and uscc_b:
        return uscc_a.upper() == uscc_b.upper()
    return name_a.strip() == name_b.strip()


@dataclass
class Match:
    """Where a certificate row goes: an instance of the key (``instance``), a new one (both
    None), or held for the bureau (``held_reason`` with its ``candidates``)."""

    instance: dict[str, Any] | None = None
    held_reason: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    region_code: str = ""


def match_instrument(
    row: CertRow, instances: list[dict[str, Any]], claims: list[facts.RegisteredClaim]
) -> Match:
    """Matched by category + serial + manufacturer + owner. An instrument no owner registered
    (and not split by the bureau) keeps the registry's rule: one instrument per key, whichever
    owner the certificate names (store_rows). A registered one is attached only when exactly one
    candidate answers and it is the owner the certificate names, or when the bureau split the key
    by owner and exactly one instance is this owner's; otherwise the certificate is held."""
    if not claims and len(instances) <= 1:
        return Match(instance=instances[0] if instances else None)
    by_id = {i["id"]: i for i in instances}
    candidates: list[dict[str, Any]] = []
    for i in instances:
        identity = i["identity"]
        candidates.append(
            {
                "kind": "instrument",
                "id": str(i["id"]),
                "owner_name": identity["owner_name"],
                "owner_uscc": identity["owner_uscc"],
                "region_code": identity["region_code"],
            }
        )
    for c in claims:
        linked = by_id.get(c.registry_instrument_id) if c.registry_instrument_id else None
        if any(
            same_owner(
                i["identity"]["owner_uscc"], i["identity"]["owner_name"], c.owner_uscc, c.owner_name
            )
            for i in ([linked] if linked is not None else instances)
        ):
            # The registration of that very instance (linked to it, or to be linked by key).
            continue
        candidates.append(
            {
                "kind": "registration",
                "id": str(c.registration_id),
                "owner_name": c.owner_name,
                "owner_uscc": c.owner_uscc,
                "region_code": c.region_code,
            }
        )
    same = [
        c
        for c in candidates
        if same_owner(c["owner_uscc"], c["owner_name"], row.owner_uscc, row.owner_name)
    ]
    if len(candidates) == 1 and same:
        only = same[0]
        return Match(
            instance=by_id[uuid.UUID(only["id"])] if only["kind"] == "instrument" else None
        )
    if len(instances) > 1 and len(same) == 1 and same[0]["kind"] == "instrument":
        return Match(instance=by_id[uuid.UUID(same[0]["id"])])
    return Match(
        held_reason="several_candidates" if len(candidates) > 1 else "other_owner",
        candidates=candidates,
        region_code=common_region([c["region_code"] for c in candidates]),
    )


def common_region(codes: list[str]) -> str:
    """The lowest division that covers every one of ``codes`` (the bureau that sees all the
    candidates): 610402 and 610404 → 610400; across provinces, the first one's."""
    if len(set(codes)) == 1:
        return codes[0]
    if len({c[:4] for c in codes}) == 1:
        return codes[0][:4] + "00"
    if len({c[:2] for c in codes}) == 1:
        return codes[0][:2] + "0000"
    return codes[0]


def row_data(row: CertRow) -> dict[str, Any]:
    """A validated row as JSON (held certificates keep it until the bureau decides)."""
    data = asdict(row)
    for name in ("verified_on", "valid_until"):
        data[name] = data[name].isoformat() if data[name] is not None else None
    return data


def row_from_data(data: dict[str, Any]) -> CertRow:
    values = dict(data)
    values["verified_on"] = date.fromisoformat(values["verified_on"])
    if values.get("valid_until"):
        values["valid_until"] = date.fromisoformat(values["valid_until"])
    return CertRow(**values)


async def store_rows(
    session: AsyncSession,
    *,
    institution_id: uuid.UUID,
    rows: Sequence[tuple[int, CertRow]],
    actor_id: uuid.UUID | None,
    scope: Scope | None,
) -> StoreResult:
    """Store validated rows with a few set-based statements: look up existing numbers and
    instruments for the whole batch, then bulk-insert instruments and certificates and bulk-update
    the instruments. Idempotent on institution + number. A row outside ``scope`` (the
    institution's authorisation, when checked) is refused; a row whose registered instrument is
    ambiguous is held for the bureau instead of attached."""
    result = StoreResult()
    if not rows:
        return result
    existing, instrument_rows, held_numbers = await _existing(
        session,
        institution_id,
        list({row.number for _, row in rows}),
        list({row.serial for _, row in rows}),
    )
    # Registrations only for rows still to store (a re-import of stored rows asks nothing).
    claims = await facts.registered_claims(
        session, list({row.instrument_key for _, row in rows if row.number not in existing})
    )
    instruments_by_key: dict[tuple[str, str, str], list[dict[str, Any]]] = {
        key: [{**data, "new": False, "values": None} for data in found]
        for key, found in instrument_rows.items()
    }
    now = utcnow()
    cert_values: list[dict[str, Any]] = []
    review_values: list[dict[str, Any]] = []
    # Ids for the rows to store, drawn at once: at most a certificate (or held review) and an
    # instrument each.
    fresh_ids = iter(new_ids(2 * sum(1 for _, row in rows if row.number not in existing), now))
    for line, row in rows:
        content_hash = row.content_hash()
        if row.number in existing:
            cert_id, known_hash = existing[row.number]
            if known_hash != content_hash:
                result.conflicts.append((line, row.number))
            elif row.number in held_numbers:
                result.held.append((line, cert_id, ""))
            else:
                result.unchanged.append((line, cert_id))
            continue
        key = row.instrument_key
        instances = instruments_by_key.get(key, [])
        match = match_instrument(row, instances, claims.get(key, []))
        if scope is not None:
            # The stated region, and the region of the instrument it attaches to (a held one's
            # instrument is the bureau's decision).
            regions = [row.region_code]
            if match.instance is not None and match.instance["identity"] is not None:
                regions.append(match.instance["identity"]["region_code"])
            problem = scope.problem(row.category_code, regions, row.verified_on)
            if problem is not None:
                result.out_of_scope.append((line, problem))
                continue
        if match.held_reason is not None:
            review_id = next(fresh_ids)
            existing[row.number] = (review_id, content_hash)
            held_numbers.add(row.number)
            review_values.append(
                {
                    "id": review_id,
                    "institution_id": institution_id,
                    "number": row.number,
                    "content_hash": content_hash,
                    "row": row_data(row),
                    "region_code": match.region_code,
                    "category_code": row.category_code,
                    "serial": row.serial,
                    "manufacturer": row.manufacturer,
                    "reason": match.held_reason,
                    "candidates": match.candidates,
                    "status": "open",
                    "note": "",
                    "created_by": actor_id,
                    "created_at": now,
                }
            )
            result.held.append((line, review_id, match.held_reason))
            continue
        cert_id = next(fresh_ids)
        existing[row.number] = (cert_id, content_hash)
        instrument = match.instance
        if instrument is None:
            instrument = {
                "id": next(fresh_ids),
                "current": None,
                "current_on": None,
                "new": True,
                "values": None,
                "identity": None,
                "owner": institution_id,
            }
            instruments_by_key.setdefault(key, []).append(instrument)
        cert_values.append(
            attach_values(
                result, line, row, content_hash, instrument, cert_id, institution_id, actor_id, now
            )
        )
        result.created.append((line, cert_id))

    new_instruments = []
    updates: dict[frozenset[str], list[dict[str, Any]]] = {}
    tokens = iter(
        new_sticker_tokens(
            sum(data["new"] for found in instruments_by_key.values() for data in found)
        )
    )
    for (category, serial, manufacturer), found in instruments_by_key.items():
        for data in found:
            if data["new"]:
                new_instruments.append(
                    {
                        "id": data["id"],
                        "sticker_token": next(tokens),
                        "category_code": category,
                        "serial": serial,
                        "manufacturer": manufacturer,
                        "created_at": now,
                        **data["values"],
                    }
                )
            elif data["values"] is not None:
                # Grouped by the columns they set: owning and foreign certificates set different
                # ones.
                updates.setdefault(frozenset(data["values"]), []).append(
                    {"_id": data["id"], **data["values"]}
                )
    if new_instruments:
        await bulk_insert(session, instruments, new_instruments)
    if cert_values:
        await bulk_insert(session, certificates, cert_values)
    if review_values:
        await session.execute(insert(reviews), review_values)
    for columns, batch in updates.items():
        await session.execute(
            update(instruments)
            .where(instruments.c.id == bindparam("_id"))
            .values({key: bindparam(key) for key in sorted(columns)}),
            batch,
            execution_options={"synchronize_session": False},
        )
    # Registrations keep a copy of their instrument's current certificate and of its
    # certificates (the statistics): every instrument that existed and gained one, current or
    # not (an older certificate entered late still counts in its month). A new instrument has no
    # registration linked yet.
    created = {row["id"] for row in new_instruments}
    changed = {
        row["_id"] for batch in updates.values() for row in batch if "current_certificate_id" in row
    }
    changed |= {v["instrument_id"] for v in cert_values} - created
    await facts.registry_changed(session, sorted(changed))
    return result


def attach_values(
    result: StoreResult,
    line: int,
    row: CertRow,
    content_hash: str,
    instrument: dict[str, Any],
    cert_id: uuid.UUID,
    institution_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    now: datetime,
) -> dict[str, Any]:
    """Attach a certificate to ``instrument`` (its current one if latest; its owner and place
    only when the owning institution states them) and return the certificate's row."""
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
    return {
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


_uuid_hex = operator.attrgetter("hex")


def _sqlite_column(column: Any, values: list[Any]) -> list[Any]:
    """One column's values in the storage formats SQLAlchemy uses on SQLite (Uuid as 32 hex
    digits, naive UTC datetimes with microseconds, ISO dates), so rows read back through the ORM
    are identical. Converted a column at a time with C-level maps where no value is None."""
    if isinstance(column.type, Uuid):
        try:
            return list(map(_uuid_hex, values))
        except AttributeError:  # a None among them
            return [None if v is None else v.hex for v in values]
    if isinstance(column.type, UTCDateTime):
        # A batch stamps every row with the same instant: format each distinct value once.
        formatted: dict[datetime | None, str | None] = {
            v: None if v is None else v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            for v in set(values)
        }
        return list(map(formatted.__getitem__, values))
    if isinstance(column.type, Date):
        try:
            return list(map(date.isoformat, values))
        except TypeError:  # a None among them
            return [None if v is None else v.isoformat() for v in values]
    return values


async def bulk_insert(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert many rows on the driver: sqlite3 ``executemany`` or PostgreSQL ``COPY``, inside the
    session's transaction. An import writes two rows per certificate; SQLAlchemy's per-value
    processing would cost more than the database's own work."""
    columns = list(rows[0])
    written(session, table)  # the driver's statements pass no listener: invalidated on commit
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    if connection.dialect.name == "sqlite":
        placeholders = ", ".join("?" * len(columns))
        by_column = [
            _sqlite_column(table.c[c], list(map(operator.itemgetter(c), rows))) for c in columns
        ]
        values = list(zip(*by_column, strict=True))
        statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})"
        try:
            await driver.executemany(statement, values)
        except sqlite3.IntegrityError as exc:
            # On the driver, SQLAlchemy does not wrap the error: wrapped here, so a row that
            # collides with one stored meanwhile is the app's 409, not an unhandled 500.
            raise IntegrityError(statement, None, exc) from exc
    elif connection.dialect.name == "postgresql":
        try:
            await driver.copy_records_to_table(
                table.name,
                records=[tuple(row[c] for c in columns) for row in rows],
                columns=columns,
            )
        except IntegrityConstraintViolationError as exc:
            raise IntegrityError(f"COPY {table.name}", None, exc) from exc
    else:
        await session.execute(insert(table), rows)
