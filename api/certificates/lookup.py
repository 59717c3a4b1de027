"""Public lookups: a certificate by number, an instrument by sticker token, certificates by serial,
and what the complaint intake resolves from a scan (``find_instrument_ref``, offered through
facts.py as portal/facts.py's ``scanned_instrument``).

Every certificate comes from the one query in api/certificates/queries.py and is shaped by
``certificate_document``, the same function the fast path (reader.py) uses.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.errors import (
    AmbiguousCertificateNumber,
    CertificateNotFound,
    InstrumentNotFound,
)
from api.certificates.numbers import normalize_number
from api.certificates.queries import (
    BY_ID,
    BY_NUMBER,
    BY_NUMBER_AND_INSTITUTION,
    CERTIFICATE_JOIN,
    CERTIFICATE_ROWS,
    CURRENT_CERTIFICATE_ID,
    ID,
    INSTITUTION_CODE,
    INSTRUMENT_BY_TOKEN,
    INSTRUMENT_COLUMNS,
    categories,
    certificate_document,
    certificate_rows,
    certificates,
    group_by_certificate,
    instrument_document,
    instruments,
    organizations,
    today_local,
)
from api.certificates.schemas import (
    STATUS_ZH,
    CertificateBrief,
    CertificateRead,
    InstrumentRead,
    InstrumentSummary,
)
from api.certificates.settings import CertificatesSettings
from portal.accounts.models import Organization
from portal.facts import InstrumentRef
from portal.pagination import PageRequest
from portal.privacy import public_owner_name


def ambiguous(number: str, codes: Sequence[str]) -> AmbiguousCertificateNumber:
    return AmbiguousCertificateNumber(
        institutions=sorted(set(codes)),
        detail_zh=f"证书编号 {number} 由多个检定机构出具，请以 ?institution= 指定机构代码。",
    )


def not_found(number: str) -> CertificateNotFound:
    return CertificateNotFound(
        f"No certificate has number {number!r}.", detail_zh=f"查无此证：{number}"
    )


def certificate_read(
    rows: Sequence[Sequence[Any]], *, today: date, expiring_days: int
) -> CertificateRead:
    return CertificateRead.model_validate(
        certificate_document(rows, today=today, expiring_days=expiring_days)
    )


async def lookup_certificate(
    session: AsyncSession,
    number: str,
    *,
    settings: CertificatesSettings,
    institution_code: str | None = None,
    today: date | None = None,
) -> CertificateRead:
    """A certificate by number (numbers are unique per institution; name it when ambiguous), as
    typed: in any case, full-width or with spaces and other dashes (api/certificates/numbers.py)."""
    number = normalize_number(number)
    if institution_code:
        rows = await certificate_rows(
            session, BY_NUMBER_AND_INSTITUTION, number=number, institution=institution_code
        )
    else:
        rows = await certificate_rows(session, BY_NUMBER, number=number)
    if not rows:
        raise not_found(number)
    if rows[0][ID] != rows[-1][ID]:
        raise ambiguous(number, [r[INSTITUTION_CODE] for r in rows])
    return certificate_read(
        rows, today=today or today_local(), expiring_days=settings.certificate_expiring_days
    )


async def certificates_by_id(
    session: AsyncSession,
    ids: Sequence[uuid.UUID],
    *,
    settings: CertificatesSettings,
    today: date | None = None,
) -> dict[uuid.UUID, CertificateRead]:
    if not ids:
        return {}
    rows = await certificate_rows(session, CERTIFICATE_ROWS.where(certificates.c.id.in_(ids)))
    day = today or today_local()
    return {
        group[0][ID]: certificate_read(
            group, today=day, expiring_days=settings.certificate_expiring_days
        )
        for group in group_by_certificate(rows)
    }


_INSTRUMENT_COLUMNS = (
    *INSTRUMENT_COLUMNS,
    instruments.c.id,
    instruments.c.current_certificate_id,
)
_INSTRUMENT_JOIN = instruments.join(categories, categories.c.code == instruments.c.category_code)


def instrument_read(
    row: Sequence[Any],
    certificate: Sequence[Sequence[Any]],
    *,
    today: date,
    expiring_days: int,
) -> InstrumentRead:
    """An instrument (an ``INSTRUMENT_BY_TOKEN`` row) with its current certificate's rows (none
    when it never had one): the same for the session and the fast path (reader.py)."""
    read = (
        certificate_read(certificate, today=today, expiring_days=expiring_days)
        if certificate
        else None
    )
    status = read.status.value if read else "none"
    return InstrumentRead(
        instrument=InstrumentSummary.model_validate(instrument_document(row, 0)),
        status=status,
        status_name=STATUS_ZH[status],
        certificate=read,
    )


def instrument_not_found() -> InstrumentNotFound:
    return InstrumentNotFound(detail_zh="查无此器具，请核对二维码或标志上的编号。")


async def get_instrument(
    session: AsyncSession,
    sticker_token: str,
    *,
    settings: CertificatesSettings,
    today: date | None = None,
) -> InstrumentRead:
    row = (await session.execute(INSTRUMENT_BY_TOKEN, {"token": sticker_token})).first()
    if row is None:
        raise instrument_not_found()
    current = row[CURRENT_CERTIFICATE_ID]
    rows = await certificate_rows(session, BY_ID, id=current) if current is not None else []
    return instrument_read(
        tuple(row),
        rows,
        today=today or today_local(),
        expiring_days=settings.certificate_expiring_days,
    )


async def current_certificate_number(session: AsyncSession, sticker_token: str) -> str | None:
    """The number of the instrument's latest certificate, in one indexed read: what a signed
    sticker's page checks to say "there is a newer verification" without loading it."""
    return await session.scalar(
        select(certificates.c.number)
        .select_from(
            instruments.join(
                certificates, certificates.c.id == instruments.c.current_certificate_id
            )
        )
        .where(instruments.c.sticker_token == sticker_token)
    )


async def list_by_serial(
    session: AsyncSession,
    *,
    serial: str,
    category: str | None,
    page: PageRequest,
    settings: CertificatesSettings,
) -> tuple[list[CertificateBrief], int]:
    """Certificates of the instrument with this serial, newest first, and their total."""
    where = [instruments.c.serial == serial]
    if category:
        where.append(instruments.c.category_code == category)
    matching = (
        select(certificates.c.id)
        .select_from(
            certificates.join(instruments, instruments.c.id == certificates.c.instrument_id)
        )
        .where(*where)
    )
    total = await session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    ids = list(
        (
            await session.scalars(
                matching.order_by(
                    certificates.c.verified_on.desc(), certificates.c.created_at.desc()
                )
                .limit(page.limit)
                .offset(page.offset)
            )
        ).all()
    )
    found = await certificates_by_id(session, ids, settings=settings)
    items = []
    for certificate_id in ids:
        full = found[certificate_id]
        items.append(
            CertificateBrief(
                number=full.number,
                kind=full.kind,
                status=full.status,
                status_name=full.status_name,
                institution_code=full.institution.code,
                institution_name=full.institution.name,
                category_code=full.instrument.category_code,
                category_name=full.instrument.category_name,
                serial=full.instrument.serial,
                verified_on=full.verified_on,
                valid_until=full.valid_until,
            )
        )
    return items, total


async def find_instrument_ref(
    session: AsyncSession,
    *,
    sticker_token: str | None = None,
    certificate_number: str | None = None,
) -> InstrumentRef | None:
    """Resolve what a citizen scanned or typed: an instrument's sticker token, a whole signed
    sticker (URL or token, used only when it verifies), or a certificate number. The owner is
    the public view (portal/privacy.py): the answer pre-fills public forms."""
    # stickers.py verifies with the lookup; imported here to keep the import graph one-way
    from api.certificates.stickers import extract_token, verify_token

    where = None
    if sticker_token:
        token = extract_token(sticker_token)
        if "." in token:
            verified = await verify_token(session, token)
            claim = (verified.claims or {}).get("t") if verified is not None else None
            if not isinstance(claim, str):
                return None
            token = claim
        where = instruments.c.sticker_token == token
    elif certificate_number:
        found = (
            await session.execute(
                select(certificates.c.instrument_id)
                .where(certificates.c.number == normalize_number(certificate_number))
                .limit(2)
            )
        ).all()
        if len(found) != 1:
            return None
        where = instruments.c.id == found[0].instrument_id
    if where is None:
        return None
    row = (
        await session.execute(
            select(*_INSTRUMENT_COLUMNS, certificates.c.number.label("current_number"))
            .select_from(
                _INSTRUMENT_JOIN.outerjoin(
                    certificates, certificates.c.id == instruments.c.current_certificate_id
                )
            )
            .where(where)
        )
    ).first()
    if row is None:
        return None
    individual = row.owner_type == "individual"
    return InstrumentRef(
        instrument_id=row.id,
        sticker_token=row.sticker_token,
        certificate_number=row.current_number,
        category_code=row.category_code,
        category_name=row.category_name,
        serial=row.serial,
        owner_name=public_owner_name(row.owner_name, is_individual=individual),
        owner_uscc=None if individual else row.owner_uscc,
        region_code=row.region_code,
        address="" if individual else row.address,
        owner_type=row.owner_type,
    )


async def list_institution_certificates(
    session: AsyncSession, org: Organization, *, limit: int = 50, query: str | None = None
) -> list[Any]:
    """The institution's own certificates, newest first (its back office: names unmasked)."""
    stmt = (
        select(
            certificates.c.id,
            certificates.c.number,
            certificates.c.valid_until,
            categories.c.name.label("category_name"),
            instruments.c.serial,
            instruments.c.owner_name,
            organizations.c.code.label("institution_code"),
        )
        .select_from(CERTIFICATE_JOIN)
        .where(certificates.c.institution_id == org.id)
        .order_by(certificates.c.created_at.desc(), certificates.c.number.desc())
        .limit(limit)
    )
    if query:
        stmt = stmt.where(
            or_(certificates.c.number == normalize_number(query), instruments.c.serial == query)
        )
    return list((await session.execute(stmt)).all())


async def statuses_for(
    session: AsyncSession, rows: Sequence[Any], *, settings: CertificatesSettings
) -> dict[uuid.UUID, CertificateRead]:
    return await certificates_by_id(session, [r.id for r in rows], settings=settings)
