"""The registry's tables under readable names, the computed status, and the ONE definition of the
certificate query: a certificate with its instrument, category, institution and event history.

The same SQLAlchemy Core select serves the service (through the session, ``certificate_rows``)
and the public lookup's fast path (api/certificates/reader.py compiles it once per dialect and
runs it on the driver). Both turn the rows into the same document with ``certificate_document``,
so the two can never drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.models import (
    Certificate,
    CertificateEvent,
    CertificateReview,
    Instrument,
    InstrumentCategory,
    OverdueWarning,
    SigningKey,
)
from api.certificates.schemas import KIND_ZH, STATUS_ZH, CertificateStatus
from portal import clock
from portal.accounts.models import Organization
from portal.privacy import public_owner_name
from portal.regions.models import Region

certificates = Certificate.__table__  # type: ignore[attr-defined]
instruments = Instrument.__table__  # type: ignore[attr-defined]
categories = InstrumentCategory.__table__  # type: ignore[attr-defined]
organizations = Organization.__table__  # type: ignore[attr-defined]
events = CertificateEvent.__table__  # type: ignore[attr-defined]
successors = certificates.alias("successor")
warnings = OverdueWarning.__table__  # type: ignore[attr-defined]
reviews = CertificateReview.__table__  # type: ignore[attr-defined]
signing_keys = SigningKey.__table__  # type: ignore[attr-defined]
regions = Region.__table__  # type: ignore[attr-defined]


def today_local() -> date:
    """Certificates are dated in China: "today" is the date in Asia/Shanghai."""
    return clock.today()


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


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


# --- the certificate query ------------------------------------------------------------------

CERTIFICATE_JOIN = (
    certificates.join(instruments, instruments.c.id == certificates.c.instrument_id)
    .join(categories, categories.c.code == instruments.c.category_code)
    .join(organizations, organizations.c.id == certificates.c.institution_id)
)

# What the public document shows of an instrument (certificate_document, instrument_document).
INSTRUMENT_COLUMNS = (
    instruments.c.sticker_token,
    instruments.c.category_code,
    categories.c.name.label("category_name"),
    instruments.c.model,
    instruments.c.serial,
    instruments.c.manufacturer,
    instruments.c.owner_name,
    instruments.c.owner_type,
    instruments.c.owner_uscc,
    instruments.c.region_code,
    instruments.c.address,
)

_COLUMNS = (
    certificates.c.id,
    certificates.c.number,
    certificates.c.kind,
    certificates.c.regulation,
    certificates.c.conclusion,
    certificates.c.verified_on,
    certificates.c.valid_until,
    certificates.c.verifier,
    certificates.c.created_at,
    *INSTRUMENT_COLUMNS,
    organizations.c.code.label("institution_code"),
    organizations.c.name.label("institution_name"),
    organizations.c.authorisation_number,
    events.c.kind.label("event_kind"),
    events.c.at.label("event_at"),
    events.c.reason.label("event_reason"),
    successors.c.number.label("successor_number"),
)
# Positions in a row, for the fast path's plain tuples (named once, here).
ID, NUMBER, KIND, REGULATION, CONCLUSION, VERIFIED_ON, VALID_UNTIL, VERIFIER, CREATED_AT = range(9)
(
    STICKER_TOKEN,
    CATEGORY_CODE,
    CATEGORY_NAME,
    MODEL,
    SERIAL,
    MANUFACTURER,
    OWNER_NAME,
    OWNER_TYPE,
    OWNER_USCC,
    REGION_CODE,
    ADDRESS,
) = range(9, 20)
INSTITUTION_CODE, INSTITUTION_NAME, AUTHORISATION_NUMBER = range(20, 23)
EVENT_KIND, EVENT_AT, EVENT_REASON, SUCCESSOR_NUMBER = range(23, 27)

#: Every certificate with one row per event (one row with NULL event columns when it has none),
#: grouped by certificate and in event order. Narrow it with ``.where(...)``.
CERTIFICATE_ROWS = (
    select(*_COLUMNS)
    .select_from(
        CERTIFICATE_JOIN.outerjoin(events, events.c.certificate_id == certificates.c.id).outerjoin(
            successors, successors.c.id == events.c.successor_id
        )
    )
    .order_by(certificates.c.id, events.c.at)
)

# At most two certificates share a number (legacy data, see registry.issue_certificate) and each
# has at most two events (one correction, one revocation): 40 rows are always enough.
LOOKUP_LIMIT = 40
BY_NUMBER = CERTIFICATE_ROWS.where(certificates.c.number == bindparam("number")).limit(LOOKUP_LIMIT)
BY_NUMBER_AND_INSTITUTION = BY_NUMBER.where(organizations.c.code == bindparam("institution"))
#: One certificate's rows by its id (an instrument's current certificate).
BY_ID = CERTIFICATE_ROWS.where(certificates.c.id == bindparam("id")).limit(LOOKUP_LIMIT)
#: An instrument by its sticker token: the public columns, its id and its current certificate's.
INSTRUMENT_BY_TOKEN = (
    select(*INSTRUMENT_COLUMNS, instruments.c.id, instruments.c.current_certificate_id)
    .select_from(instruments.join(categories, categories.c.code == instruments.c.category_code))
    .where(instruments.c.sticker_token == bindparam("token"))
)
# Position in an INSTRUMENT_BY_TOKEN row: after the public columns and the instrument's id.
CURRENT_CERTIFICATE_ID = len(INSTRUMENT_COLUMNS) + 1
#: The same rows for several numbers at once (PostgreSQL: ``number = ANY($1)``, one prepared
#: statement whatever the count): the fast path's batches of lookups arriving together.
BY_NUMBERS = CERTIFICATE_ROWS.where(
    certificates.c.number == any_(bindparam("numbers", type_=ARRAY(String)))
).limit(bindparam("limit"))


async def certificate_rows(
    session: AsyncSession, stmt: Any, **params: Any
) -> list[tuple[Any, ...]]:
    """Run ``CERTIFICATE_ROWS`` (narrowed) through the session, as plain tuples."""
    return [tuple(row) for row in (await session.execute(stmt, params)).all()]


def group_by_certificate(rows: Sequence[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """The rows of each certificate together, in the order the certificates first appear."""
    grouped: dict[Any, list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(row[ID], []).append(row)
    return list(grouped.values())


def _iso_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        text = value.isoformat()
        return text.replace("+00:00", "Z") if text.endswith("+00:00") else text + "Z"
    # SQLite read on the driver keeps naive UTC as "YYYY-MM-DD HH:MM:SS[.ffffff]"
    return str(value).replace(" ", "T") + "Z"


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def instrument_document(row: Sequence[Any], offset: int = STICKER_TOKEN) -> dict[str, Any]:
    """The public view of an instrument: individuals' names masked, their address and code left
    out (portal/privacy.py). ``offset`` is where the instrument's columns start in ``row``."""
    individual = row[offset + OWNER_TYPE - STICKER_TOKEN] == "individual"
    return {
        "sticker_token": row[offset],
        "category_code": row[offset + 1],
        "category_name": row[offset + 2],
        "model": row[offset + 3],
        "serial": row[offset + 4],
        "manufacturer": row[offset + 5],
        "owner_name": public_owner_name(row[offset + 6], is_individual=individual),
        "owner_type": row[offset + 7],
        "owner_uscc": None if individual else row[offset + 8],
        "region_code": row[offset + 9],
        "address": None if individual else row[offset + 10],
    }


def certificate_document(
    rows: Sequence[Sequence[Any]], *, today: date, expiring_days: int
) -> dict[str, Any]:
    """The public document of one certificate from its rows (JSON-ready: dates as ISO text)."""
    first = rows[0]
    history: list[dict[str, Any]] = [
        {
            "kind": "issued",
            "at": _iso_datetime(first[CREATED_AT]),
            "reason": "",
            "successor_number": None,
        }
    ]
    revoked = False
    successor = None
    for row in rows:
        kind = row[EVENT_KIND]
        if kind is None:
            continue
        history.append(
            {
                "kind": kind,
                "at": _iso_datetime(row[EVENT_AT]),
                "reason": row[EVENT_REASON],
                "successor_number": row[SUCCESSOR_NUMBER],
            }
        )
        if kind == "revoked":
            revoked = True
        elif kind == "corrected":
            successor = row[SUCCESSOR_NUMBER]
    verified_on = _date(first[VERIFIED_ON])
    valid_until = _date(first[VALID_UNTIL])
    status, days_left = compute_status(
        kind=first[KIND],
        valid_until=valid_until,
        revoked=revoked,
        superseded=successor is not None,
        today=today,
        expiring_days=expiring_days,
    )
    return {
        "number": first[NUMBER],
        "kind": first[KIND],
        "kind_name": KIND_ZH[first[KIND]],
        "status": status.value,
        "status_name": STATUS_ZH[status.value],
        "days_left": days_left,
        "successor_number": successor,
        "institution": {
            "code": first[INSTITUTION_CODE],
            "name": first[INSTITUTION_NAME],
            "authorisation_number": first[AUTHORISATION_NUMBER],
        },
        "instrument": instrument_document(first),
        "regulation": first[REGULATION],
        "conclusion": first[CONCLUSION],
        "verified_on": verified_on.isoformat() if verified_on else None,
        "valid_until": valid_until.isoformat() if valid_until else None,
        "verifier": first[VERIFIER],
        "history": history,
    }
