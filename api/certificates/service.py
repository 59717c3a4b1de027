"""The rules of the certificate registry: computed status, public lookups, issuing, importing,
correcting and revoking, sticker signing and verification, the overdue list and its warnings.

The public lookups are the hot path: each is one or two indexed queries over plain columns
(no ORM objects), and the caller caches the answer by ETag.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import IO, Any

import structlog
from sqlalchemy import Row, exists, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates import signing
from api.certificates.errors import (
    AmbiguousCertificateNumber,
    CertificateAlreadyRevoked,
    CertificateNotFound,
    CertificateNumberTaken,
    CertificateSuperseded,
    InstrumentNotFound,
    InvalidCertificate,
    NotAnInstitution,
)
from api.certificates.importer import (
    COLUMNS,
    CertRow,
    FieldError,
    ValidationContext,
    read_rows,
    validate_row,
)
from api.certificates.models import (
    Certificate,
    CertificateEvent,
    CertificateEventKind,
    Instrument,
    InstrumentCategory,
    OverdueWarning,
    SigningKey,
    WarningStage,
)
from api.certificates.schemas import (
    KIND_ZH,
    STATUS_ZH,
    CertificateBrief,
    CertificateCreate,
    CertificateEventRead,
    CertificateList,
    CertificateRead,
    CertificateStatus,
    ImportReport,
    InstitutionSummary,
    InstrumentRead,
    InstrumentRef,
    InstrumentSummary,
    OverdueItem,
    OverdueList,
    RowError,
    TrustedKey,
    TrustList,
    VerifyResult,
)
from portal import clock
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.accounts.permissions import Action, authorize
from portal.accounts.service import get_organization_by_code
from portal.audit import service as audit
from portal.clock import SHANGHAI
from portal.db import utcnow
from portal.privacy import public_owner_name
from portal.regions.models import Region
from portal.regions.service import significant_prefix
from portal.settings import Settings
from portal.signing import forget_cached_keys

log = structlog.get_logger(__name__)

C = Certificate.__table__  # type: ignore[attr-defined]
I = Instrument.__table__  # type: ignore[attr-defined]  # noqa: E741
K = InstrumentCategory.__table__  # type: ignore[attr-defined]
O = Organization.__table__  # type: ignore[attr-defined]  # noqa: E741
E = CertificateEvent.__table__  # type: ignore[attr-defined]
S = C.alias("successor")
W = OverdueWarning.__table__  # type: ignore[attr-defined]
SK = SigningKey.__table__  # type: ignore[attr-defined]
R = Region.__table__  # type: ignore[attr-defined]


def today_local() -> date:
    """Certificates are dated in China: "today" is the date in Asia/Shanghai."""
    return clock.today()


def compute_status(
    *,
    kind: str,
    valid_until: date | None,
    revoked: bool,
    superseded: bool,
    today: date,
    expiring_days: int,
) -> tuple[CertificateStatus, int | None]:
    """The status and the days left until ``valid_until`` (negative once expired)."""
    days_left = (valid_until - today).days if valid_until is not None else None
    if revoked:
        return CertificateStatus.revoked, days_left
    if superseded:
        return CertificateStatus.superseded, days_left
    if kind == "notice" or days_left is None:
        return CertificateStatus.failed, days_left
    if days_left < 0:
        return CertificateStatus.expired, days_left
    if days_left <= expiring_days:
        return CertificateStatus.expiring, days_left
    return CertificateStatus.valid, days_left


# ---------------------------------------------------------------------------------------------
# Public lookups

_CERT_COLUMNS = (
    C.c.id,
    C.c.number,
    C.c.kind,
    C.c.regulation,
    C.c.conclusion,
    C.c.verified_on,
    C.c.valid_until,
    C.c.verifier,
    C.c.created_at,
    C.c.instrument_id,
    I.c.sticker_token,
    I.c.category_code,
    K.c.name.label("category_name"),
    I.c.model,
    I.c.serial,
    I.c.manufacturer,
    I.c.owner_name,
    I.c.owner_type,
    I.c.owner_uscc,
    I.c.region_code,
    I.c.address,
    O.c.code.label("institution_code"),
    O.c.name.label("institution_name"),
    O.c.authorisation_number,
)
_CERT_FROM = (
    C.join(I, I.c.id == C.c.instrument_id)
    .join(K, K.c.code == I.c.category_code)
    .join(O, O.c.id == C.c.institution_id)
)
_EVENTS = (
    select(E.c.certificate_id, E.c.kind, E.c.at, E.c.reason, S.c.number.label("successor"))
    .select_from(E.outerjoin(S, S.c.id == E.c.successor_id))
    .order_by(E.c.at)
)


def _instrument_summary(row: Any) -> InstrumentSummary:
    individual = row.owner_type == "individual"
    return InstrumentSummary(
        sticker_token=row.sticker_token,
        category_code=row.category_code,
        category_name=row.category_name,
        model=row.model,
        serial=row.serial,
        manufacturer=row.manufacturer,
        owner_name=public_owner_name(row.owner_name, is_individual=individual),
        owner_type=row.owner_type,
        owner_uscc=None if individual else row.owner_uscc,
        region_code=row.region_code,
        address=None if individual else row.address,
    )


def _certificate_read(
    row: Any, events: Sequence[Any], *, today: date, expiring_days: int
) -> CertificateRead:
    history = [
        CertificateEventRead(kind="issued", at=_aware(row.created_at)),
        *(
            CertificateEventRead(
                kind=e.kind, at=_aware(e.at), reason=e.reason, successor_number=e.successor
            )
            for e in events
        ),
    ]
    revoked = any(e.kind == "revoked" for e in events)
    successor = next((e.successor for e in events if e.kind == "corrected"), None)
    status, days_left = compute_status(
        kind=row.kind,
        valid_until=row.valid_until,
        revoked=revoked,
        superseded=successor is not None,
        today=today,
        expiring_days=expiring_days,
    )
    return CertificateRead(
        number=row.number,
        kind=row.kind,
        kind_name=KIND_ZH[row.kind],
        status=status,
        status_name=STATUS_ZH[status],
        days_left=days_left,
        successor_number=successor,
        institution=InstitutionSummary(
            code=row.institution_code,
            name=row.institution_name,
            authorisation_number=row.authorisation_number,
        ),
        instrument=_instrument_summary(row),
        regulation=row.regulation,
        conclusion=row.conclusion,
        verified_on=row.verified_on,
        valid_until=row.valid_until,
        verifier=row.verifier,
        history=history,
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _events_for(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Any]]:
    found: dict[uuid.UUID, list[Any]] = {i: [] for i in ids}
    if ids:
        for event in (await session.execute(_EVENTS.where(E.c.certificate_id.in_(ids)))).all():
            found[event.certificate_id].append(event)
    return found


async def lookup_certificate(
    session: AsyncSession,
    number: str,
    *,
    settings: Settings,
    institution_code: str | None = None,
    today: date | None = None,
) -> CertificateRead:
    """A certificate by number (numbers are unique per institution; name it when ambiguous)."""
    stmt = select(*_CERT_COLUMNS).select_from(_CERT_FROM).where(C.c.number == number)
    if institution_code:
        stmt = stmt.where(O.c.code == institution_code)
    rows = (await session.execute(stmt.limit(10))).all()
    if not rows:
        raise CertificateNotFound(
            f"No certificate has number {number!r}.", detail_zh=f"查无此证：{number}"
        )
    if len(rows) > 1:
        raise AmbiguousCertificateNumber(
            institutions=sorted(r.institution_code for r in rows),
            detail_zh=f"证书编号 {number} 由多个检定机构出具，请以 ?institution= 指定机构代码。",
        )
    row = rows[0]
    events = (await session.execute(_EVENTS.where(E.c.certificate_id == row.id))).all()
    return _certificate_read(
        row,
        events,
        today=today or today_local(),
        expiring_days=settings.certificate_expiring_days,
    )


async def _certificate_by_id(
    session: AsyncSession, certificate_id: uuid.UUID, *, settings: Settings, today: date
) -> CertificateRead | None:
    row = (
        await session.execute(
            select(*_CERT_COLUMNS).select_from(_CERT_FROM).where(C.c.id == certificate_id)
        )
    ).first()
    if row is None:
        return None
    events = (await session.execute(_EVENTS.where(E.c.certificate_id == row.id))).all()
    return _certificate_read(
        row, events, today=today, expiring_days=settings.certificate_expiring_days
    )


_INSTRUMENT_COLUMNS = (
    I.c.id,
    I.c.sticker_token,
    I.c.category_code,
    K.c.name.label("category_name"),
    I.c.model,
    I.c.serial,
    I.c.manufacturer,
    I.c.owner_name,
    I.c.owner_type,
    I.c.owner_uscc,
    I.c.region_code,
    I.c.address,
    I.c.current_certificate_id,
)


async def get_instrument(
    session: AsyncSession, sticker_token: str, *, settings: Settings, today: date | None = None
) -> InstrumentRead:
    row = (
        await session.execute(
            select(*_INSTRUMENT_COLUMNS)
            .select_from(I.join(K, K.c.code == I.c.category_code))
            .where(I.c.sticker_token == sticker_token)
        )
    ).first()
    if row is None:
        raise InstrumentNotFound(detail_zh="查无此器具，请核对二维码或标志上的编号。")
    certificate = None
    if row.current_certificate_id is not None:
        certificate = await _certificate_by_id(
            session, row.current_certificate_id, settings=settings, today=today or today_local()
        )
    status = certificate.status.value if certificate else "none"
    return InstrumentRead(
        instrument=_instrument_summary(row),
        status=status,
        status_name=STATUS_ZH[status],
        certificate=certificate,
    )


async def list_by_serial(
    session: AsyncSession,
    *,
    serial: str,
    category: str | None,
    limit: int,
    offset: int,
    settings: Settings,
) -> CertificateList:
    where = [I.c.serial == serial]
    if category:
        where.append(I.c.category_code == category)
    base = select(C.c.id).select_from(C.join(I, I.c.id == C.c.instrument_id)).where(*where)
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = (
        await session.execute(
            select(*_CERT_COLUMNS)
            .select_from(_CERT_FROM)
            .where(*where)
            .order_by(C.c.verified_on.desc(), C.c.created_at.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    events = await _events_for(session, [r.id for r in rows])
    today = today_local()
    items = []
    for row in rows:
        full = _certificate_read(
            row, events[row.id], today=today, expiring_days=settings.certificate_expiring_days
        )
        items.append(
            CertificateBrief(
                number=row.number,
                kind=row.kind,
                status=full.status,
                status_name=full.status_name,
                institution_code=row.institution_code,
                institution_name=row.institution_name,
                category_code=row.category_code,
                category_name=row.category_name,
                serial=row.serial,
                verified_on=row.verified_on,
                valid_until=row.valid_until,
            )
        )
    return CertificateList(items=items, total=total, limit=limit, offset=offset)


async def find_instrument_ref(
    session: AsyncSession,
    *,
    sticker_token: str | None = None,
    certificate_number: str | None = None,
) -> InstrumentRef | None:
    """Resolve what a citizen scanned or typed: an instrument's sticker token, a whole signed
    sticker (URL or token, used only when its signature verifies), or a certificate number."""
    where = None
    if sticker_token:
        token = signing.extract_token(sticker_token)
        if "." in token:
            verified = await _verify_token(session, token)
            claim = verified[1].get("t") if verified is not None else None
            if not isinstance(claim, str):
                return None
            token = claim
        where = I.c.sticker_token == token
    elif certificate_number:
        found = (
            await session.execute(
                select(C.c.instrument_id).where(C.c.number == certificate_number.strip()).limit(2)
            )
        ).all()
        if len(found) != 1:
            return None
        where = I.c.id == found[0].instrument_id
    if where is None:
        return None
    row = (
        await session.execute(
            select(*_INSTRUMENT_COLUMNS, C.c.number.label("current_number"))
            .select_from(
                I.join(K, K.c.code == I.c.category_code).outerjoin(
                    C, C.c.id == I.c.current_certificate_id
                )
            )
            .where(where)
        )
    ).first()
    if row is None:
        return None
    return InstrumentRef(
        instrument_id=row.id,
        sticker_token=row.sticker_token,
        certificate_number=row.current_number,
        category_code=row.category_code,
        category_name=row.category_name,
        serial=row.serial,
        owner_name=row.owner_name,
        owner_uscc=row.owner_uscc,
        region_code=row.region_code,
        address=row.address,
    )


# ---------------------------------------------------------------------------------------------
# Issuing and importing


async def acting_institution(
    session: AsyncSession, actor: User, action: Action, code: str | None = None
) -> Organization:
    """The institution the actor works for (administrators name one with ``code``)."""
    if actor.role == Role.admin:
        if not code:
            raise NotAnInstitution(
                "Administrators must name the institution.", detail_zh="管理员须指定检定机构代码。"
            )
        org = await get_organization_by_code(session, code)
    else:
        authorize(actor, action)
        org_found = (
            await session.get(Organization, actor.organization_id)
            if actor.organization_id
            else None
        )
        if org_found is None:
            raise NotAnInstitution()
        org = org_found
        if code and code != org.code:
            authorize(actor, action, organization_id=uuid.uuid4())  # raises organization_forbidden
    if org.kind != OrganizationKind.institution:
        raise NotAnInstitution(detail_zh=f"{org.name} 不是检定机构。")
    authorize(actor, action, organization_id=org.id)
    return org


async def validation_context(session: AsyncSession, settings: Settings) -> ValidationContext:
    categories: dict[str, str] = {}
    regulations: dict[str, str] = {}
    for code, name, regulation in (
        await session.execute(select(K.c.code, K.c.name, K.c.regulation))
    ).all():
        categories[code.lower()] = code
        categories[name.lower()] = code
        regulations[code] = regulation
    regions = set((await session.scalars(select(R.c.code))).all())
    return ValidationContext(
        categories=categories,
        regulations=regulations,
        regions=regions,
        cycles=settings.verification_cycle_months,
        default_cycle=settings.default_verification_cycle_months,
        today=today_local(),
    )


@dataclass
class StoreResult:
    created: list[tuple[int, uuid.UUID]]  # (line, certificate id)
    unchanged: list[tuple[int, uuid.UUID]]
    conflicts: list[tuple[int, str]]  # (line, number)


def new_sticker_token() -> str:
    """128 random bits: unguessable, 22 URL-safe characters."""
    return secrets.token_urlsafe(16)


async def store_rows(
    session: AsyncSession,
    *,
    institution_id: uuid.UUID,
    rows: Sequence[tuple[int, CertRow]],
    actor_id: uuid.UUID | None,
) -> StoreResult:
    """Store validated rows with a few set-based statements: look up existing numbers and
    instruments for the whole batch, then bulk-insert instruments and certificates and bulk-update
    the instruments' current certificate. Idempotent on institution + number."""
    result = StoreResult(created=[], unchanged=[], conflicts=[])
    if not rows:
        return result
    numbers = list({row.number for _, row in rows})
    serials = list({row.serial for _, row in rows})
    existing: dict[str, tuple[uuid.UUID, str]] = {}
    instruments: dict[tuple[str, str, str], dict[str, Any]] = {}
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        # On the driver: SQLAlchemy would compile a 2,000-parameter IN per batch and convert
        # every id of the answer; json_each() passes each list as one parameter.
        import json

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
            "c.verified_on FROM instrument i LEFT JOIN certificate c "
            "ON c.id = i.current_certificate_id "
            "WHERE i.serial IN (SELECT value FROM json_each(?))",
            (json.dumps(serials),),
        )
        for id_hex, category, serial, manufacturer, current, verified_on in await cursor.fetchall():
            instruments[(category, serial, manufacturer)] = {
                "id": uuid.UUID(hex=id_hex),
                "current": uuid.UUID(hex=current) if current else None,
                "current_on": date.fromisoformat(verified_on) if verified_on else None,
                "new": False,
                "values": None,
            }
    else:
        for r in (
            await session.execute(
                select(C.c.number, C.c.id, C.c.content_hash).where(
                    C.c.institution_id == institution_id, C.c.number.in_(numbers)
                )
            )
        ).all():
            existing[r.number] = (r.id, r.content_hash)
        for r in (
            await session.execute(
                select(
                    I.c.id,
                    I.c.category_code,
                    I.c.serial,
                    I.c.manufacturer,
                    I.c.current_certificate_id,
                    C.c.verified_on,
                )
                .select_from(I.outerjoin(C, C.c.id == I.c.current_certificate_id))
                .where(I.c.serial.in_(serials))
            )
        ).all():
            instruments[(r.category_code, r.serial, r.manufacturer)] = {
                "id": r.id,
                "current": r.current_certificate_id,
                "current_on": r.verified_on,
                "new": False,
                "values": None,
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
        instrument = instruments.get(row.instrument_key)
        if instrument is None:
            instrument = {
                "id": uuid.uuid4(),
                "current": None,
                "current_on": None,
                "new": True,
                "values": None,
            }
            instruments[row.instrument_key] = instrument
        if instrument["current_on"] is None or row.verified_on >= instrument["current_on"]:
            # The latest verification is the instrument's current state, owner and place included.
            instrument["current"] = cert_id
            instrument["current_on"] = row.verified_on
            instrument["values"] = {
                "model": row.model,
                "owner_name": row.owner_name,
                "owner_type": row.owner_type,
                "owner_uscc": row.owner_uscc,
                "address": row.address,
                "region_code": row.region_code,
                "latitude": row.latitude,
                "longitude": row.longitude,
                "current_certificate_id": cert_id,
            }
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
    updates = []
    for (category, serial, manufacturer), data in instruments.items():
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
            updates.append({"_id": data["id"], **data["values"]})
    if new_instruments:
        await bulk_insert(session, I, new_instruments)
    if cert_values:
        await bulk_insert(session, C, cert_values)
    if updates:
        from sqlalchemy import bindparam

        await session.execute(
            update(I)
            .where(I.c.id == bindparam("_id"))
            .values({key: bindparam(key) for key in updates[0] if key != "_id"}),
            updates,
            execution_options={"synchronize_session": False},
        )
    return result


def _sqlite_converter(column: Any) -> Any:
    # The storage formats SQLAlchemy uses on SQLite (Uuid as 32 hex digits, naive UTC datetimes
    # with microseconds, ISO dates), so rows read back through the ORM are identical.
    from sqlalchemy import Date, Uuid

    from portal.db import UTCDateTime

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


def _is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _field_errors(errors: Iterable[FieldError]) -> list[dict[str, str]]:
    return [
        {"field": e.column, "type": e.code, "message": e.reason, "message_zh": e.reason_zh}
        for e in errors
    ]


async def issue_certificate(
    session: AsyncSession, data: CertificateCreate, *, actor: User, settings: Settings
) -> tuple[CertificateRead, bool]:
    """Issue one certificate; returns it and whether it was created (an identical repeat is not)."""
    org = await acting_institution(session, actor, Action.certificate_issue, data.institution)
    ctx = await validation_context(session, settings)
    validated = validate_row(data.model_dump(exclude={"institution"}), ctx)
    if isinstance(validated, list):
        raise InvalidCertificate(
            f"{len(validated)} field(s) are not valid.",
            detail_zh=f"有 {len(validated)} 项内容不符合要求。",
            errors=_field_errors(validated),
        )
    stored = await store_rows(
        session, institution_id=org.id, rows=[(1, validated)], actor_id=actor.id
    )
    if stored.conflicts:
        raise CertificateNumberTaken(detail_zh=f"证书编号 {validated.number} 已用于其他内容。")
    created = bool(stored.created)
    if created:
        await audit.record(
            session,
            actor=actor,
            action="certificate.issue",
            entity_type="certificate",
            entity_id=stored.created[0][1],
            region_code=validated.region_code,
            after={"institution": org.code, **{c: getattr(validated, c) for c in COLUMNS}},
        )
    return (
        await lookup_certificate(
            session, validated.number, settings=settings, institution_code=org.code
        ),
        created,
    )


async def import_file(
    session: AsyncSession,
    stream: IO[bytes],
    filename: str,
    *,
    institution: Organization,
    actor: User | None,
    settings: Settings,
) -> ImportReport:
    """Import a CSV/XLSX/JSON Lines file in batches. Valid rows are stored, every invalid row is
    reported with its line, column and reason; rows already stored are counted as unchanged."""
    ctx = await validation_context(session, settings)
    batch: list[tuple[int, CertRow]] = []
    errors: list[RowError] = []
    total = created = unchanged = failed = batches = 0
    truncated = False
    actor_id = actor.id if actor is not None else None

    def add_error(line: int, column: str, code: str, reason: str, reason_zh: str) -> None:
        nonlocal truncated
        if len(errors) < settings.certificate_import_max_errors:
            errors.append(
                RowError(line=line, column=column, code=code, reason=reason, reason_zh=reason_zh)
            )
        else:
            truncated = True

    async def flush() -> None:
        nonlocal created, unchanged, failed, batches
        batches += 1
        if batches % 10 == 0 and not _is_sqlite(session):
            # The tables grow inside this one transaction; fresh statistics keep PostgreSQL on
            # index lookups for the per-batch queries instead of scans of the growing tables.
            await session.execute(text("ANALYZE instrument, certificate"))
        stored = await store_rows(
            session, institution_id=institution.id, rows=batch, actor_id=actor_id
        )
        created += len(stored.created)
        unchanged += len(stored.unchanged)
        failed += len(stored.conflicts)
        for line, number in stored.conflicts:
            add_error(
                line,
                "number",
                "number_taken",
                f"number {number} was already issued with different content; issue a correction",
                f"证书编号 {number} 已用于其他内容，如需更正请出具更正证书",
            )
        batch.clear()

    if _is_sqlite(session):
        # The import grows several index B-trees at random places (uuid keys): give SQLite a
        # page cache that holds them (the default is 2 MB); restored below.
        await session.execute(text("PRAGMA cache_size=-65536"))
    for line, raw in read_rows(stream, filename):
        total += 1
        validated = validate_row(raw, ctx)
        if isinstance(validated, list):
            failed += 1
            for e in validated:
                add_error(line, e.column, e.code, e.reason, e.reason_zh)
            continue
        batch.append((line, validated))
        if len(batch) >= settings.certificate_import_batch_size:
            await flush()
    await flush()
    if _is_sqlite(session):
        await session.execute(text("PRAGMA cache_size=-2000"))
    errors.sort(key=lambda e: e.line)
    report = ImportReport(
        institution=institution.code,
        total_rows=total,
        created=created,
        unchanged=unchanged,
        failed=failed,
        errors=errors,
        errors_truncated=truncated,
    )
    await audit.record(
        session,
        actor=actor,
        action="certificate.import",
        entity_type="organization",
        entity_id=institution.id,
        region_code=institution.region_code,
        after={
            "file": filename[:200],
            "total_rows": total,
            "created": created,
            "unchanged": unchanged,
            "failed": failed,
        },
    )
    return report


async def _own_certificate(
    session: AsyncSession, number: str, org: Organization
) -> tuple[Any, Sequence[Any]]:
    row = (
        await session.execute(
            select(C.c.id, C.c.instrument_id, C.c.number, I.c.region_code)
            .select_from(C.join(I, I.c.id == C.c.instrument_id))
            .where(C.c.institution_id == org.id, C.c.number == number)
        )
    ).first()
    if row is None:
        raise CertificateNotFound(detail_zh=f"本机构没有编号为 {number} 的证书。")
    events = (await session.execute(_EVENTS.where(E.c.certificate_id == row.id))).all()
    if any(e.kind == "revoked" for e in events):
        raise CertificateAlreadyRevoked()
    if any(e.kind == "corrected" for e in events):
        raise CertificateSuperseded()
    return row, events


async def revoke_certificate(
    session: AsyncSession,
    number: str,
    *,
    reason: str,
    actor: User,
    settings: Settings,
    institution_code: str | None = None,
) -> CertificateRead:
    org = await acting_institution(session, actor, Action.certificate_revoke, institution_code)
    row, _ = await _own_certificate(session, number, org)
    event = CertificateEvent(
        certificate_id=row.id,
        kind=CertificateEventKind.revoked,
        actor_id=actor.id,
        reason=reason.strip(),
    )
    session.add(event)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="certificate.revoke",
        entity_type="certificate",
        entity_id=row.id,
        region_code=row.region_code,
        before={"number": number, "status": "active"},
        after={"number": number, "status": "revoked", "reason": reason.strip()},
    )
    return await lookup_certificate(session, number, settings=settings, institution_code=org.code)


async def _recompute_current(session: AsyncSession, instrument_id: uuid.UUID) -> None:
    """Point the instrument at its latest certificate that no correction superseded."""
    superseded = exists().where(E.c.certificate_id == C.c.id, E.c.kind == "corrected")
    latest = await session.scalar(
        select(C.c.id)
        .where(C.c.instrument_id == instrument_id, ~superseded)
        .order_by(C.c.verified_on.desc(), C.c.created_at.desc())
        .limit(1)
    )
    await session.execute(
        update(I).where(I.c.id == instrument_id).values(current_certificate_id=latest)
    )


async def correct_certificate(
    session: AsyncSession,
    number: str,
    data: CertificateCreate,
    *,
    reason: str,
    actor: User,
    settings: Settings,
) -> CertificateRead:
    """Issue a new certificate that supersedes ``number`` (which stays, with a corrected event)."""
    org = await acting_institution(session, actor, Action.certificate_issue, data.institution)
    old, _ = await _own_certificate(session, number, org)
    if data.number == number:
        raise InvalidCertificate(
            "A correction has a new number.", detail_zh="更正证书须使用新的证书编号。"
        )
    new, created = await issue_certificate(session, data, actor=actor, settings=settings)
    if not created:
        raise CertificateNumberTaken(detail_zh=f"证书编号 {data.number} 已存在。")
    new_id = await session.scalar(
        select(C.c.id).where(C.c.institution_id == org.id, C.c.number == data.number)
    )
    session.add(
        CertificateEvent(
            certificate_id=old.id,
            kind=CertificateEventKind.corrected,
            actor_id=actor.id,
            reason=reason.strip(),
            successor_id=new_id,
        )
    )
    await session.flush()
    new_instrument = await session.scalar(select(C.c.instrument_id).where(C.c.id == new_id))
    for instrument_id in {old.instrument_id, new_instrument}:
        await _recompute_current(session, instrument_id)
    await audit.record(
        session,
        actor=actor,
        action="certificate.correct",
        entity_type="certificate",
        entity_id=old.id,
        region_code=old.region_code,
        before={"number": number},
        after={"superseded_by": data.number, "reason": reason.strip()},
    )
    del new
    return await lookup_certificate(
        session, data.number, settings=settings, institution_code=org.code
    )


async def list_institution_certificates(
    session: AsyncSession, org: Organization, *, limit: int = 50, query: str | None = None
) -> list[Any]:
    stmt = (
        select(*_CERT_COLUMNS)
        .select_from(_CERT_FROM)
        .where(C.c.institution_id == org.id)
        .order_by(C.c.created_at.desc(), C.c.number.desc())
        .limit(limit)
    )
    if query:
        stmt = stmt.where(or_(C.c.number == query, I.c.serial == query))
    return list((await session.execute(stmt)).all())


async def statuses_for(
    session: AsyncSession, rows: Sequence[Any], *, settings: Settings
) -> dict[uuid.UUID, CertificateRead]:
    events = await _events_for(session, [r.id for r in rows])
    today = today_local()
    return {
        r.id: _certificate_read(
            r, events[r.id], today=today, expiring_days=settings.certificate_expiring_days
        )
        for r in rows
    }


# ---------------------------------------------------------------------------------------------
# Signing keys, stickers, verification


async def _register_key(
    session: AsyncSession, signer: signing.Signer, organization_id: uuid.UUID | None
) -> None:
    if await session.get(SigningKey, signer.kid) is None:
        session.add(
            SigningKey(
                kid=signer.kid,
                organization_id=organization_id,
                public_key=signing.b64url(signer.public_raw),
                valid_from=utcnow(),
            )
        )
        await session.flush()


async def portal_signer(session: AsyncSession, settings: Settings) -> signing.Signer:
    signer = signing.load_or_create_key(settings.signing_key_file)
    await _register_key(session, signer, None)
    return signer


async def create_institution_key(
    session: AsyncSession, org: Organization, *, settings: Settings, actor: User | None
) -> SigningKey:
    """A new key pair for an institution; earlier keys stay in the trust list, closed from now."""
    path = settings.signing_keys_dir / f"{org.code}.pem"
    if path.exists():
        path.replace(path.with_suffix(f".{utcnow().strftime('%Y%m%d%H%M%S')}.pem"))
    forget_cached_keys()  # the file was just rotated away
    signer = signing.load_or_create_key(path)
    now = utcnow()
    await session.execute(
        update(SK)
        .where(SK.c.organization_id == org.id, SK.c.valid_until.is_(None))
        .values(valid_until=now)
    )
    key = SigningKey(
        kid=signer.kid,
        organization_id=org.id,
        public_key=signing.b64url(signer.public_raw),
        valid_from=now,
    )
    session.add(key)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="signing_key.create",
        entity_type="signing_key",
        entity_id=signer.kid,
        region_code=org.region_code,
        after={"institution": org.code, "kid": signer.kid},
    )
    return key


async def signer_for(
    session: AsyncSession, org_id: uuid.UUID, org_code: str, settings: Settings
) -> signing.Signer:
    """The institution's own current key when it has one on this server, else the portal key."""
    kid = await session.scalar(
        select(SK.c.kid).where(
            SK.c.organization_id == org_id,
            or_(SK.c.valid_until.is_(None), SK.c.valid_until > utcnow()),
        )
    )
    path = settings.signing_keys_dir / f"{org_code}.pem"
    if kid is not None and path.exists():
        signer = signing.load_or_create_key(path)
        if signer.kid == kid:
            return signer
    return await portal_signer(session, settings)


def sticker_claims(row: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "v": signing.FORMAT_VERSION,
        "n": row.number,
        "o": row.institution_code,
        "t": row.sticker_token,
        "c": row.category_code,
        "s": row.serial,
        "k": "C" if row.kind == "certificate" else "N",
        "r": row.conclusion,
        "d": row.verified_on.isoformat(),
    }
    if row.valid_until is not None:
        claims["u"] = row.valid_until.isoformat()
    return claims


async def sticker_url(
    session: AsyncSession,
    number: str,
    *,
    actor: User,
    settings: Settings,
    institution_code: str | None = None,
) -> str:
    org = await acting_institution(session, actor, Action.certificate_issue, institution_code)
    row = (
        await session.execute(
            select(*_CERT_COLUMNS)
            .select_from(_CERT_FROM)
            .where(C.c.institution_id == org.id, C.c.number == number)
        )
    ).first()
    if row is None:
        raise CertificateNotFound(detail_zh=f"本机构没有编号为 {number} 的证书。")
    signer = await signer_for(session, org.id, org.code, settings)
    return f"{settings.base_url.rstrip('/')}/v/{signing.sign(sticker_claims(row), signer)}"


async def _verify_token(
    session: AsyncSession, token: str
) -> tuple[signing.ParsedToken, dict[str, Any], str | None] | None:
    """(parsed, claims, signer's institution code or None for the portal) when the signature
    verifies against a key of the trust list; None otherwise."""
    try:
        parsed = signing.parse(token)
    except signing.MalformedToken:
        return None
    key = (
        await session.execute(
            select(SK.c.public_key, SK.c.valid_until, O.c.code)
            .select_from(SK.outerjoin(O, O.c.id == SK.c.organization_id))
            .where(SK.c.kid == parsed.kid)
        )
    ).first()
    if key is None or not signing.verify(parsed, signing.b64url_decode(key.public_key)):
        return None
    return parsed, parsed.claims, key.code


async def verify_sticker(
    session: AsyncSession, payload: str, *, settings: Settings
) -> VerifyResult:
    token = signing.extract_token(payload)
    try:
        parsed = signing.parse(token)
    except signing.MalformedToken as exc:
        return VerifyResult(signature_valid=False, reason=f"malformed: {exc}")
    verified = await _verify_token(session, token)
    if verified is None:
        known = await session.get(SigningKey, parsed.kid)
        return VerifyResult(
            signature_valid=False,
            key_id=parsed.kid,
            algorithm=parsed.alg,
            reason="signature does not verify" if known else "unknown key id",
        )
    _, claims, signer_code = verified
    result = VerifyResult(
        signature_valid=True,
        key_id=parsed.kid,
        algorithm=parsed.alg,
        signed_by=signer_code or "portal",
        claims=claims,
    )
    number, institution = claims.get("n"), claims.get("o")
    if isinstance(number, str) and isinstance(institution, str):
        try:
            certificate = await lookup_certificate(
                session, number, settings=settings, institution_code=institution
            )
        except CertificateNotFound:
            result.reason = "signed, but the certificate is not in the registry"
        else:
            result.certificate = certificate
            result.status = certificate.status.value
            result.status_name = certificate.status_name
    return result


async def trust_list(session: AsyncSession, *, settings: Settings) -> TrustList:
    await portal_signer(session, settings)
    rows = (
        await session.execute(
            select(SK, O.c.code.label("institution_code"), O.c.name.label("institution_name"))
            .select_from(SK.outerjoin(O, O.c.id == SK.c.organization_id))
            .order_by(SK.c.valid_from)
        )
    ).all()
    return TrustList(
        issuer=settings.base_url,
        generated_at=utcnow(),
        keys=[
            TrustedKey(
                kid=key.kid,
                crv=key.curve,
                alg=key.algorithm,
                x=key.public_key,
                institution_code=key.institution_code,
                institution_name=key.institution_name or "共治平台",
                valid_from=_aware(key.valid_from),
                valid_until=_aware(key.valid_until) if key.valid_until else None,
            )
            for key in rows
        ],
    )


# ---------------------------------------------------------------------------------------------
# Overdue instruments and warnings


def region_range(code: str) -> tuple[str, str]:
    """[low, high) bounds of every code under ``code``: an indexable prefix test."""
    prefix = significant_prefix(code)
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


_REVOKED = (
    select(E.c.at)
    .where(E.c.certificate_id == C.c.id, E.c.kind == "revoked")
    .limit(1)
    .scalar_subquery()
)


def _overdue_stmt(region: str | None, horizon: date) -> Any:
    """Instruments of the region (None: every region) whose current certificate expired, expires
    by ``horizon``, failed or was revoked, or that never had one."""
    revoked_at = _REVOKED.label("revoked_at")
    stmt = (
        select(
            I.c.id,
            I.c.sticker_token,
            I.c.category_code,
            K.c.name.label("category_name"),
            I.c.model,
            I.c.serial,
            I.c.owner_name,
            I.c.owner_uscc,
            I.c.address,
            I.c.region_code,
            I.c.created_at,
            C.c.id.label("certificate_id"),
            C.c.number,
            C.c.kind,
            C.c.verified_on,
            C.c.valid_until,
            revoked_at,
        )
        .select_from(
            I.join(K, K.c.code == I.c.category_code).outerjoin(
                C, C.c.id == I.c.current_certificate_id
            )
        )
        .where(
            or_(
                C.c.id.is_(None),
                C.c.kind == "notice",
                C.c.valid_until <= horizon,
                exists().where(E.c.certificate_id == C.c.id, E.c.kind == "revoked"),
            ),
        )
    )
    if region is not None:
        low, high = region_range(region)
        stmt = stmt.where(I.c.region_code >= low, I.c.region_code < high)
    return stmt


def _overdue_status(row: Any, today: date, expiring_days: int) -> tuple[str, int]:
    if row.certificate_id is None:
        return "none", (today - _aware(row.created_at).astimezone(SHANGHAI).date()).days
    if row.revoked_at is not None:
        return "revoked", (today - _aware(row.revoked_at).astimezone(SHANGHAI).date()).days
    if row.kind == "notice":
        return "failed", (today - row.verified_on).days
    status, days_left = compute_status(
        kind=row.kind,
        valid_until=row.valid_until,
        revoked=False,
        superseded=False,
        today=today,
        expiring_days=expiring_days,
    )
    return status.value, -(days_left or 0)


def _overdue_item(row: Any, today: date, expiring_days: int) -> OverdueItem:
    status, days = _overdue_status(row, today, expiring_days)
    return OverdueItem(
        sticker_token=row.sticker_token,
        category_code=row.category_code,
        category_name=row.category_name,
        model=row.model,
        serial=row.serial,
        owner_name=row.owner_name,
        owner_uscc=row.owner_uscc,
        address=row.address,
        region_code=row.region_code,
        status=status,
        status_name=STATUS_ZH[status],
        certificate_number=row.number,
        valid_until=row.valid_until,
        days_overdue=days,
    )


async def list_overdue(
    session: AsyncSession,
    *,
    actor: User,
    region: str | None,
    within_days: int,
    limit: int,
    offset: int,
    settings: Settings,
) -> OverdueList:
    region = region or actor.region_code or ""
    await _check_region(session, actor, region)
    today = today_local()
    stmt = _overdue_stmt(region, today + timedelta(days=within_days))
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = (
        await session.execute(
            stmt.order_by(C.c.valid_until.asc().nulls_first(), I.c.id).limit(limit).offset(offset)
        )
    ).all()
    return OverdueList(
        region=region,
        within_days=within_days,
        as_of=today,
        total=total,
        limit=limit,
        offset=offset,
        items=[_overdue_item(r, today, settings.certificate_expiring_days) for r in rows],
    )


async def _check_region(session: AsyncSession, actor: User, region: str) -> None:
    from portal.regions.service import get_region

    await get_region(session, region)
    authorize(actor, Action.instrument_overdue_view, region_code=region)


async def check_overdue_access(session: AsyncSession, actor: User, region: str | None) -> str:
    region = region or actor.region_code or ""
    await _check_region(session, actor, region)
    return region


async def iter_overdue(
    session: AsyncSession, *, region: str, within_days: int, settings: Settings, page: int = 2000
) -> AsyncIterator[OverdueItem]:
    """Every overdue instrument of the region, fetched a page at a time (for CSV export)."""
    today = today_local()
    stmt = _overdue_stmt(region, today + timedelta(days=within_days)).order_by(I.c.id)
    last: uuid.UUID | None = None
    while True:
        paged = stmt if last is None else stmt.where(I.c.id > last)
        rows = (await session.execute(paged.limit(page))).all()
        for r in rows:
            yield _overdue_item(r, today, settings.certificate_expiring_days)
        if len(rows) < page:
            return
        last = rows[-1].id


def _stage(row: Row[Any], today: date) -> WarningStage:
    if row.certificate_id is None:
        return WarningStage.unverified
    if row.revoked_at is not None or row.kind == "notice":
        return WarningStage.expired
    if row.valid_until is not None and row.valid_until < today:
        return WarningStage.expired
    return WarningStage.expiring


async def scan_overdue(
    session: AsyncSession, *, settings: Settings, today: date | None = None
) -> int:
    """Record a warning for every instrument that became overdue or is about to; each
    (instrument, certificate, stage) is warned once, so running twice adds nothing."""
    today = today or today_local()
    horizon = today + timedelta(days=settings.certificate_expiring_days)
    stmt = _overdue_stmt(None, horizon).order_by(I.c.id)
    now = utcnow()
    created = 0
    existing = select(W.c.instrument_id, W.c.certificate_key, W.c.stage)
    async for chunk in _chunks(session, stmt):
        ids = [r.id for r in chunk]
        known = {
            (w.instrument_id, w.certificate_key, w.stage)
            for w in (await session.execute(existing.where(W.c.instrument_id.in_(ids)))).all()
        }
        values = []
        for r in chunk:
            stage = _stage(r, today)
            key = str(r.certificate_id) if r.certificate_id else "none"
            if (r.id, key, stage.value) in known:
                continue
            values.append(
                {
                    "id": uuid.uuid4(),
                    "instrument_id": r.id,
                    "certificate_key": key,
                    "stage": stage.value,
                    "region_code": r.region_code,
                    "valid_until": r.valid_until,
                    "created_on": today,
                    "created_at": now,
                }
            )
        if values:
            await session.execute(insert(W), values)
            created += len(values)
    return created


async def _chunks(session: AsyncSession, stmt: Any, size: int = 2000) -> AsyncIterator[list[Any]]:
    last: uuid.UUID | None = None
    while True:
        paged = stmt if last is None else stmt.where(I.c.id > last)
        rows = list((await session.execute(paged.limit(size))).all())
        if rows:
            yield rows
        if len(rows) < size:
            return
        last = rows[-1].id
