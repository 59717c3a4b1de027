"""Where the parts of the portal meet: facts about enterprises, keyed by the unified social credit
code (统一社会信用代码, upper-case, 18 characters).

The certificate registry, the complaint intake and the enforcement notices each know something
about an enterprise; the credit evaluation needs all of it. Rather than importing each other, a
domain that knows facts provides a ``facts`` module (see portal/domains.py) with any of:

    async def instrument_facts(session, *, as_of: date, usccs: Sequence[str] | None) -> list[InstrumentFact]
    async def complaint_facts(session, *, since: datetime, usccs: Sequence[str] | None) -> list[ComplaintFact]
    async def penalty_facts(session, *, as_of: date, usccs: Sequence[str] | None) -> list[PenaltyFact]
    async def lists_entered(session, *, as_of: date, usccs: Sequence[str] | None) -> list[ListingFact]
    async def inspection_facts(session, *, since: date, as_of: date, usccs: Sequence[str] | None) -> list[InspectionFact]

and the functions below gather them. The same holds for one fact that is not about an enterprise:
what a citizen scanned or typed on the complaint form (``scanned_instrument``, answered by the
certificate registry), so the complaint intake resolves a sticker without importing the registry;
and the documents another domain offers the site search (``SearchDocument``: enforcement notices
are indexed like articles, through ``public_documents`` and ``public_document_ids``; a change the
public must see is announced with ``enqueue_index``). ``usccs=None`` means every enterprise. Providers answer with
set-based queries (a handful of queries whatever the number of enterprises), never one query per
enterprise, because a credit run covers a whole association at once.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.domains import modules
from portal.jsonlines import ImportReport
from portal.outbox import service as outbox

CertificateStatus = Literal[
    "valid", "expiring", "expired", "failed", "revoked", "superseded", "none"
]


@dataclass(frozen=True)
class InstrumentFact:
    """One instrument owned by an enterprise, with its current certificate as of ``as_of``."""

    instrument_id: uuid.UUID
    owner_uscc: str
    region_code: str
    category_code: str
    status: CertificateStatus  # of the current certificate; "none" if it never had one
    certificate_number: str | None
    valid_until: date | None
    overdue_days: (
        int  # days past valid_until (or since registration if never verified); 0 if current
    )
    failures_24m: int  # 检定结果通知书 (failed verifications) in the 24 months before as_of
    verifications_24m: int  # all verifications in the 24 months before as_of


@dataclass(frozen=True)
class ComplaintFact:
    """A complaint or report about an enterprise that staff concluded as substantiated (属实)."""

    case_id: uuid.UUID
    tracking_number: str
    business_uscc: str
    category: str
    concluded_at: datetime


@dataclass(frozen=True)
class PenaltyFact:
    """An administrative penalty (行政处罚) still within its public display period on ``as_of``."""

    notice_id: uuid.UUID
    decision_number: str
    party_uscc: str
    penalty_kind: (
        str  # e.g. 警告, 罚款, 没收违法所得, 责令停产停业, 吊销许可证; or several: 警告；罚款
    )
    amount: Decimal | None  # yuan
    decided_on: date
    display_until: date

    @property
    def penalties(self) -> frozenset[str]:
        return penalty_parts(self.penalty_kind)


# How decisions write a list of penalties, and the words around a penalty's name.
_PENALTY_SEPARATORS = re.compile(r"[；;，,、/|]|并处|以及|及|和|并")
_PENALTY_NOTES = re.compile(r"[（(【\[].*?[）)】\]]")
_PENALTY_PREFIXES = ("依法给予", "给予", "处以", "处")
_PENALTY_SUFFIXES = ("的行政处罚", "行政处罚", "处罚")
_NOT_A_PENALTY = {"无", "-", "—", "/", "等"}
# Variant forms met in typed decisions (NFKC leaves these), and the quotes a decision puts
# around a name (列入《市场监督管理严重违法失信名单》, 吊销“许可证”), which name nothing apart.
_VARIANTS = str.maketrans({"吿": "告"} | dict.fromkeys("《》〈〉“”‘’「」『』\"'", None))


def penalty_parts(kind: str) -> frozenset[str]:
    """The penalties one decision combines, as a decision writes them: 警告；罚款 → {警告, 罚款};
    also 给予警告, 警告处罚, 警 告, 警告。, 警告（从轻） → {警告}. Width, spaces and invisible
    characters, notes in brackets, the words around a penalty's name and placeholders such as 无
    do not count, so a rule about a penalty cannot be side-stepped by how it is typed."""
    text = unicodedata.normalize("NFKC", kind).translate(_VARIANTS)
    text = "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch) != "Cf")
    text = _PENALTY_NOTES.sub("", text)
    parts = set()
    for raw in _PENALTY_SEPARATORS.split(text):
        part = raw.strip("。.!！：:")
        for prefix in _PENALTY_PREFIXES:
            if part.startswith(prefix) and len(part) > len(prefix):
                part = part[len(prefix) :]
                break
        for suffix in _PENALTY_SUFFIXES:
            if part.endswith(suffix) and len(part) > len(suffix):
                part = part[: -len(suffix)]
                break
        if part and part not in _NOT_A_PENALTY:
            parts.add(part)
    return frozenset(parts)


@dataclass(frozen=True)
class InstrumentRef:
    """What a citizen scanned, for other domains (the complaint intake): the instrument and its current
    certificate number. The owner is the public view (portal/privacy.py): an individual's name is
    masked and their code and address left out, because the answer pre-fills public forms; staff
    handling a case reach the full record through ``instrument_id``."""

    instrument_id: uuid.UUID
    sticker_token: str
    certificate_number: str | None
    category_code: str
    category_name: str
    serial: str
    owner_name: str
    owner_uscc: str | None
    region_code: str
    address: str
    owner_type: str = "enterprise"


async def instrument_facts(
    session: AsyncSession, *, as_of: date, usccs: Sequence[str] | None = None
) -> list[InstrumentFact]:
    found: list[InstrumentFact] = []
    for _, module in modules("facts"):
        provider = getattr(module, "instrument_facts", None)
        if provider is not None:
            found.extend(await provider(session, as_of=as_of, usccs=usccs))
    return found


async def complaint_facts(
    session: AsyncSession, *, since: datetime, usccs: Sequence[str] | None = None
) -> list[ComplaintFact]:
    found: list[ComplaintFact] = []
    for _, module in modules("facts"):
        provider = getattr(module, "complaint_facts", None)
        if provider is not None:
            found.extend(await provider(session, since=since, usccs=usccs))
    return found


async def penalty_facts(
    session: AsyncSession, *, as_of: date, usccs: Sequence[str] | None = None
) -> list[PenaltyFact]:
    found: list[PenaltyFact] = []
    for _, module in modules("facts"):
        provider = getattr(module, "penalty_facts", None)
        if provider is not None:
            found.extend(await provider(session, as_of=as_of, usccs=usccs))
    return found


# 市场监督管理严重违法失信名单管理办法 (SAMR Order 44, 2021): entering a party in the serious
# dishonesty list is decided with its own 文书号 (or together with a penalty decision) and published
# as an enforcement notice whose penalty kind names it (列入严重违法失信名单); it is a credit
# measure, not a penalty.


def _is_listing(part: str) -> bool:
    return part.endswith("严重违法失信名单") and (
        part.startswith(("列入", "纳入")) or part == "严重违法失信名单"
    )


def records_listing(kind: str) -> bool:
    """Whether a notice's penalty kind records an entry in the serious dishonesty list
    (列入严重违法失信名单, 罚款；列入严重违法失信名单, 并列入市场监督管理严重违法失信名单, …),
    read with ``penalty_parts`` so the way it is typed does not matter."""
    return any(_is_listing(p) for p in penalty_parts(kind))


def listing_only(kind: str) -> bool:
    """A notice that records nothing but a listing: no administrative penalty (not a penalty
    fact, and not counted as one by the risk model or the credit evaluation)."""
    parts = penalty_parts(kind)
    return bool(parts) and all(_is_listing(p) for p in parts)


@dataclass(frozen=True)
class ListingFact:
    """An enterprise on the serious dishonesty list (严重违法失信名单) on ``as_of``, as an
    enforcement notice records it: entered on the decision date, on the list through
    ``listed_until`` (the end of its display: three years, or earlier when it was removed, 移出);
    a withdrawn notice (decision revoked) records no listing. ``url`` is the notice's public page,
    the evidence a score links to."""

    notice_id: uuid.UUID
    decision_number: str
    party_uscc: str
    entered_on: date
    listed_until: date
    url: str


async def lists_entered(
    session: AsyncSession, *, as_of: date, usccs: Sequence[str] | None = None
) -> list[ListingFact]:
    """The listings of the enterprises ``usccs`` (None: all) in force on ``as_of``."""
    found: list[ListingFact] = []
    for _, module in modules("facts"):
        provider = getattr(module, "lists_entered", None)
        if provider is not None:
            found.extend(await provider(session, as_of=as_of, usccs=usccs))
    return found


async def scanned_instrument(
    session: AsyncSession, *, sticker_token: str | None, certificate_number: str | None
) -> InstrumentRef | None:
    """The instrument named by a scanned sticker (token or whole signed sticker) or a typed
    certificate number, from the first domain that knows it; None when none does."""
    for _, module in modules("facts"):
        provider = getattr(module, "scanned_instrument", None)
        if provider is not None:
            found: InstrumentRef | None = await provider(
                session, sticker_token=sticker_token, certificate_number=certificate_number
            )
            if found is not None:
                return found
    return None


# --- owner sites and their standing, for risk-based enforcement (issue 17) ---------------------

SiteInstrumentState = Literal["ok", "overdue", "never_verified", "failed"]


@dataclass(frozen=True)
class SiteInstrumentFact:
    """How many of an owner's registered instruments (pending or confirmed registrations) of one
    category and usage area are in one state on ``as_of``: overdue (已过期, 到期更换), never
    verified though due (未检定), failed or revoked (不合格), or ok (valid, expiring, not due yet).
    The site is the owner organisation (使用单位); ``region_code`` is the organisation's."""

    owner_id: uuid.UUID
    owner_name: str
    owner_uscc: str | None
    region_code: str
    category_code: str
    usage_area: str
    state: SiteInstrumentState
    count: int


async def site_instrument_facts(
    session: AsyncSession, *, as_of: date, region: str | None = None
) -> list[SiteInstrumentFact]:
    """Every owner site's instruments by category, usage area and state, of sites in ``region``
    and below (None: everywhere); one GROUP BY per providing domain, whatever the number of sites."""
    found: list[SiteInstrumentFact] = []
    for _, module in modules("facts"):
        provider = getattr(module, "site_instrument_facts", None)
        if provider is not None:
            found.extend(await provider(session, as_of=as_of, region=region))
    return found


@dataclass(frozen=True)
class CreditGradeFact:
    """A current credit grade (诚信等级) an industry association published for an enterprise."""

    uscc: str
    grade: str
    association_id: uuid.UUID
    valid_until: date


async def credit_grade_facts(
    session: AsyncSession, *, as_of: date, usccs: Sequence[str] | None = None
) -> list[CreditGradeFact]:
    found: list[CreditGradeFact] = []
    for _, module in modules("facts"):
        provider = getattr(module, "credit_grade_facts", None)
        if provider is not None:
            found.extend(await provider(session, as_of=as_of, usccs=usccs))
    return found


# --- the compulsory catalogue and the registry, for owners' registrations (issue 15) ----------


class CycleProblem(ValueError):
    """An instrument's attributes do not give a cycle: unknown category, a missing attribute the
    cycle depends on (a water meter's DN), or a value the category does not allow."""

    def __init__(self, field: str, code: str, message: str, message_zh: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.message_zh = message_zh


@dataclass(frozen=True)
class CycleFact:
    """The catalogue's answer for one instrument (api/certificates/catalogue.py)."""

    category_code: str
    category_name: str
    verification_form: str  # periodic, initial_rotation, initial_scrap, none
    months: int | None  # the cycle or service life; None: no cycle
    regulation: str
    usage_areas: tuple[str, ...]
    attributes: dict[str, str | int]  # checked and typed


@dataclass(frozen=True)
class RegistryEntry:
    """An owner's registered instrument, told to the certificate registry so that certificates
    attach to it and the region's overdue list counts it (the registry's instrument identity:
    category + serial + manufacturer)."""

    category_code: str
    serial: str
    manufacturer: str
    model: str
    owner_name: str
    owner_uscc: str
    address: str
    region_code: str
    since: datetime  # when it counts as registered: the day it was due


@dataclass(frozen=True)
class RegistryState:
    """What the registry knows of an instrument: its sticker, its current certificate's status
    (portal's CertificateStatus; "none" if never verified) and the owner it has there."""

    instrument_id: uuid.UUID
    sticker_token: str
    owner_uscc: str | None
    status: CertificateStatus
    certificate_number: str | None
    verified_on: date | None
    valid_until: date | None


def _first_provider(name: str) -> object:
    for _, module in modules("facts"):
        provider = getattr(module, name, None)
        if provider is not None:
            return provider
    raise LookupError(f"no domain provides {name}")


def instrument_cycle(
    *, category_code: str, on: date, attributes: dict[str, object] | None
) -> CycleFact:
    """The cycle of an instrument of ``category_code`` with these attributes, verified on ``on``;
    raises ``CycleProblem``."""
    provider = _first_provider("instrument_cycle")
    return provider(category_code=category_code, on=on, attributes=attributes)  # type: ignore[operator, no-any-return]


async def enter_in_registry(session: AsyncSession, entry: RegistryEntry) -> RegistryState:
    """The registry's instrument for ``entry``, created when it has none (an institution may have
    certified it first; then its owner there is in the answer, never changed here)."""
    provider = _first_provider("enter_in_registry")
    return await provider(session, entry)  # type: ignore[operator, no-any-return]


async def find_in_registry(
    session: AsyncSession, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], RegistryState]:
    """The registry's instruments by (category, serial, manufacturer), those it has."""
    provider = _first_provider("find_in_registry")
    return await provider(session, keys)  # type: ignore[operator, no-any-return]


async def registry_states(
    session: AsyncSession, ids: Sequence[uuid.UUID], *, as_of: date
) -> dict[uuid.UUID, RegistryState]:
    provider = _first_provider("registry_states")
    return await provider(session, ids, as_of=as_of)  # type: ignore[operator, no-any-return]


@dataclass(frozen=True)
class CurrentCertificates:
    """For set-based statistics: a select with one row per registry instrument and the columns
    ``instrument_id``, ``kind`` ("certificate", "notice"; NULL when it has no certificate),
    ``verified_on``, ``valid_until`` and ``revoked_id`` (not NULL when the certificate was
    revoked), and the registry's warning window (a certificate is 即将到期 when its validity ends
    within ``expiring_days``)."""

    query: Select[Any]
    expiring_days: int


def current_certificates() -> CurrentCertificates:
    provider = _first_provider("current_certificates")
    return provider()  # type: ignore[operator, no-any-return]


def registry_verifications() -> Select[Any]:
    """For set-based statistics: a select of every certificate and failure notice, with the
    columns ``certificate_id``, ``instrument_id``, ``kind`` and ``verified_on``. Certificates are
    never deleted nor moved to another instrument: one added to an instrument is told through
    ``registry_changed``."""
    provider = _first_provider("registry_verifications")
    return provider()  # type: ignore[operator, no-any-return]


def withdrawn_from_use() -> Select[Any] | None:
    """A select of one column: the registry's instruments whose owners retired every registration
    of them (scrapped, replaced, out of compulsory use) that the bureau had confirmed, and that no
    owner still has registered (an unconfirmed registration's retirement hides nothing);
    the overdue list and its warnings leave them out. None when no domain keeps registrations."""
    for _, module in modules("facts"):
        provider = getattr(module, "withdrawn_from_use", None)
        if provider is not None:
            return provider()  # type: ignore[no-any-return]
    return None


@dataclass(frozen=True)
class UnconfirmedDue:
    """A registration due (never verified, or its declared verification's cycle run out) that
    waits for the bureau's confirmation, so is not in the registry yet: the overdue list shows
    it, marked 待确认, as the regional statistics count it (issue 15)."""

    registration_id: uuid.UUID
    category_code: str
    model: str
    serial: str
    owner_name: str
    owner_uscc: str | None
    address: str
    region_code: str
    due_on: date
    status: str  # none (never verified) or expired (the declared verification's cycle ran out)


async def unconfirmed_due(
    session: AsyncSession, *, region: str, today: date, limit: int, offset: int
) -> tuple[int, list[UnconfirmedDue]]:
    """(how many, one page ordered by due day) of the unconfirmed registrations of ``region``
    and below due by ``today`` and not in the registry; (0, []) when no domain keeps them."""
    for _, module in modules("facts"):
        provider = getattr(module, "unconfirmed_due", None)
        if provider is not None:
            return await provider(  # type: ignore[no-any-return]
                session, region=region, today=today, limit=limit, offset=offset
            )
    return 0, []


async def unconfirmed_instruments(
    session: AsyncSession, instrument_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Of these registry instruments, those an owner registered whose registration the bureau
    has not confirmed (pending, and none confirmed): the overdue list marks them 待确认."""
    for _, module in modules("facts"):
        provider = getattr(module, "unconfirmed_instruments", None)
        if provider is not None:
            return await provider(session, instrument_ids)  # type: ignore[no-any-return]
    return set()


@dataclass(frozen=True)
class RegisteredClaim:
    """An owner's active registration (pending or confirmed) of an instrument, for matching an
    institution's certificate to it: which owner says the instrument is theirs, and where."""

    registration_id: uuid.UUID
    owner_name: str
    owner_uscc: str | None
    region_code: str
    registry_instrument_id: uuid.UUID | None


async def registered_claims(
    session: AsyncSession, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], list[RegisteredClaim]]:
    """Active registrations by (category, serial, manufacturer), from every domain that holds
    them; empty when none does."""
    found: dict[tuple[str, str, str], list[RegisteredClaim]] = {}
    if not keys:
        return found
    for _, module in modules("facts"):
        provider = getattr(module, "registered_claims", None)
        if provider is not None:
            for key, claims in (await provider(session, keys)).items():
                found.setdefault(key, []).extend(claims)
    return found


async def link_registration(
    session: AsyncSession,
    registration_id: uuid.UUID,
    instrument_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None,
    data: dict[str, Any],
) -> None:
    """Tell the registration domain that the bureau put a held certificate on the registry's
    instrument ``instrument_id`` for this registration: it links the two, with an event."""
    for _, module in modules("facts"):
        provider = getattr(module, "link_registration", None)
        if provider is not None:
            await provider(session, registration_id, instrument_id, actor_id=actor_id, data=data)


async def registry_changed(session: AsyncSession, instrument_ids: Sequence[uuid.UUID]) -> None:
    """Tell the domains that keep a copy of the registry's certificates (the registrations'
    statistics) that these instruments' current certificate changed or was revoked, or that a
    certificate or failure notice was added to them (current or not); called in the transaction
    that changed them."""
    if not instrument_ids:
        return
    for _, module in modules("facts"):
        provider = getattr(module, "registry_changed", None)
        if provider is not None:
            await provider(session, instrument_ids)


@dataclass(frozen=True)
class CategoryChoice:
    """A catalogue entry an owner may register, for forms: code, names, and the attributes its
    cycle depends on (name, label, choices; no choices: a whole number)."""

    code: str
    name: str
    group_name: str
    usage_areas: tuple[str, ...]
    attributes: tuple[tuple[str, str, tuple[str, ...]], ...]


def instrument_categories() -> list[CategoryChoice]:
    """The compulsory catalogue's entries that are verified (not type approval only)."""
    provider = _first_provider("instrument_categories")
    return provider()  # type: ignore[operator, no-any-return]


# --- what the public reads: the documents of the site search, whichever domain holds them -----

DocumentKind = Literal["article", "notice", "regulation"]
NATIONWIDE = "全国"


@dataclass(frozen=True)
class SearchDocument:
    """What a search engine stores for one published document. Search builds its own (articles,
    regulations); other domains offer theirs through ``public_documents`` (enforcement notices)."""

    kind: DocumentKind
    id: str
    title: str
    body: str  # plain text
    url: str
    summary: str = ""
    keywords: str = ""  # tags, category, party name, decision number: weighted between the two
    tags: tuple[str, ...] = ()
    category: str = ""
    region: str = NATIONWIDE  # display name of the region, 全国 for national documents
    region_codes: tuple[str, ...] = ()  # the GB/T 2260 code and its ancestors, when known
    date: date | None = None
    issuer: str = ""  # regulations: the body that passed or published it, when known
    status: str = ""  # regulations: 现行有效 / 已修改 / 已废止, when known
    # Among hits of the same title, the lower first: the version in force before older ones.
    version_rank: int = 0

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.id}"

    @property
    def year(self) -> int | None:
        return self.date.year if self.date else None

    @property
    def ts(self) -> int:
        """Days since 1970 (0 when undated): the sort key for 'newest first'."""
        return (self.date - date(1970, 1, 1)).days if self.date else 0


def region_codes(code: str) -> tuple[str, ...]:
    """A GB/T 2260 code and its ancestors: 610402 → 610000, 610400, 610402."""
    chain = [code[:2] + "0000", code[:4] + "00", code]
    return tuple(dict.fromkeys(chain))


# Every change that alters what the public may see enqueues this in the same transaction; the
# search domain's handler loads the current state and indexes or deletes (search/jobs.py).
INDEX_TOPIC = "search.index"
INDEX_BATCH = 500


async def enqueue_index(
    session: AsyncSession, kind: DocumentKind, ids: Sequence[uuid.UUID]
) -> None:
    """Ask the worker to bring the search engine in line with these rows (same transaction)."""
    for start in range(0, len(ids), INDEX_BATCH):
        chunk = [str(i) for i in ids[start : start + INDEX_BATCH]]
        await outbox.enqueue(session, INDEX_TOPIC, {"kind": kind, "ids": chunk})


async def public_documents(
    session: AsyncSession, *, kind: str, ids: Sequence[uuid.UUID], on: date
) -> list[SearchDocument] | None:
    """Those of ``ids`` the public may see on ``on``, from the domain that holds ``kind``; None
    when no domain offers that kind."""
    for _, module in modules("facts"):
        provider = getattr(module, "public_documents", None)
        if provider is not None:
            found: list[SearchDocument] | None = await provider(session, kind=kind, ids=ids, on=on)
            if found is not None:
                return found
    return None


async def public_document_ids(session: AsyncSession, *, on: date) -> dict[str, list[uuid.UUID]]:
    """Every document other domains let the public see on ``on``, by kind (for a rebuild)."""
    found: dict[str, list[uuid.UUID]] = {}
    for _, module in modules("facts"):
        provider = getattr(module, "public_document_ids", None)
        if provider is not None:
            found.update(await provider(session, on=on))
    return found


async def document_counts(session: AsyncSession) -> dict[str, int]:
    """How many documents of each kind other domains hold, published or not."""
    found: dict[str, int] = {}
    for _, module in modules("facts"):
        provider = getattr(module, "document_counts", None)
        if provider is not None:
            found.update(await provider(session))
    return found


async def import_documents(
    session: AsyncSession, *, kind: str, rows: Any, settings: Any
) -> ImportReport | None:
    """Import JSON lines of ``kind`` into the domain that holds it (``gongzhi documents import``
    is one command for every kind); None when no domain takes that kind."""
    for _, module in modules("facts"):
        provider = getattr(module, "import_documents", None)
        if provider is not None:
            report: ImportReport | None = await provider(
                session, kind=kind, rows=rows, settings=settings
            )
            if report is not None:
                return report
    return None


# --- field inspections (移动执法终端, issue 17) --------------------------------------------------


@dataclass(frozen=True)
class SiteInstrument:
    """One active registered instrument of an owner site, for the inspector's check form: its
    verification state on ``as_of`` as the regional statistics name it (valid, expiring,
    not_due, expired, replace, none, failed, revoked) and the registry instrument it is linked
    to (what a scanned sticker resolves to, ``scanned_instrument``)."""

    registration_id: uuid.UUID
    registry_instrument_id: uuid.UUID | None
    category_code: str
    serial: str
    location: str
    usage_area: str
    state: str


async def site_instruments(
    session: AsyncSession, *, owner_id: uuid.UUID, as_of: date
) -> list[SiteInstrument]:
    found: list[SiteInstrument] = []
    for _, module in modules("facts"):
        provider = getattr(module, "site_instruments", None)
        if provider is not None:
            found.extend(await provider(session, owner_id=owner_id, as_of=as_of))
    return found


@dataclass(frozen=True)
class HeldPhoto:
    """A photo another domain holds as evidence, with short-lived links to its metadata-free
    derivatives (the original, with EXIF and GPS, stays with the photo's own domain)."""

    media_id: uuid.UUID
    display_url: str
    thumbnail_url: str


async def hold_photos(
    session: AsyncSession, *, media_ids: Sequence[uuid.UUID], uploader_id: uuid.UUID, holder: str
) -> list[uuid.UUID]:
    """Take photos uploaded through the one photo intake (``POST /api/v1/media``) by
    ``uploader_id`` as evidence of ``holder``, so they are never swept as orphans; the ids held
    (a photo unknown, another's, attached to a case or held by someone else is left out)."""
    held: list[uuid.UUID] = []
    for _, module in modules("facts"):
        provider = getattr(module, "hold_photos", None)
        if provider is not None:
            held.extend(
                await provider(session, media_ids=media_ids, uploader_id=uploader_id, holder=holder)
            )
    return held


async def photo_links(
    session: AsyncSession, settings: Any, *, media_ids: Sequence[uuid.UUID]
) -> list[HeldPhoto]:
    found: list[HeldPhoto] = []
    for _, module in modules("facts"):
        provider = getattr(module, "photo_links", None)
        if provider is not None:
            found.extend(await provider(session, settings, media_ids=media_ids))
    return found


@dataclass(frozen=True)
class InspectionFindingFact:
    """A failed 双随机 inspection of an owner site (不合格 findings), for the next risk score:
    repeat findings of earlier inspections are a risk input."""

    inspection_id: uuid.UUID
    owner_id: uuid.UUID
    inspected_at: datetime
    follow_up: str  # correct (责令改正) / penalty_case (立案查处)


async def inspection_finding_facts(
    session: AsyncSession, *, since: datetime, region: str | None = None
) -> list[InspectionFindingFact]:
    found: list[InspectionFindingFact] = []
    for _, module in modules("facts"):
        provider = getattr(module, "inspection_finding_facts", None)
        if provider is not None:
            found.extend(await provider(session, since=since, region=region))
    return found


@dataclass(frozen=True)
class InspectionFact:
    """A failed 双随机 inspection (监督检查不合格) of a site of an enterprise, for credit evaluation:
    only one whose result is public (一公开) on the evaluation date, like a penalty, which counts
    only while it is published. ``site_name`` is the name the campaign published (individuals
    masked)."""

    inspection_id: uuid.UUID
    uscc: str
    site_name: str
    inspected_on: date  # Beijing date of the inspection
    published_on: date
    follow_up: str  # correct (责令改正) / penalty_case (立案查处) / none


async def inspection_facts(
    session: AsyncSession, *, since: date, as_of: date, usccs: Sequence[str] | None = None
) -> list[InspectionFact]:
    """Failed inspections of the enterprises ``usccs`` (None: all) made on or after ``since``
    and published on or before ``as_of``."""
    found: list[InspectionFact] = []
    for _, module in modules("facts"):
        provider = getattr(module, "inspection_facts", None)
        if provider is not None:
            found.extend(await provider(session, since=since, as_of=as_of, usccs=usccs))
    return found


@dataclass(frozen=True)
class FollowUpFact:
    """A follow-up of a failed inspection still unresolved (as it stands now: an order to correct
    not yet corrected, a penalty case not yet closed), opened by ``as_of`` and measured against
    its deadline on ``as_of``, for the next risk score: a site that leaves a
    finding uncorrected is a repeat-finding risk, more so past its deadline."""

    follow_up_id: uuid.UUID
    inspection_id: uuid.UUID
    owner_id: uuid.UUID
    kind: str  # correct (责令改正) / penalty_case (立案查处)
    status: str  # open / case_filed
    ordered_on: date  # the inspection day (Beijing)
    deadline: date  # to correct, or to decide on a case (working days)
    overdue: bool  # open and past its deadline on as_of
    overdue_days: int  # calendar days past the deadline on as_of; 0 if not overdue


async def follow_up_facts(
    session: AsyncSession, *, as_of: date, region: str | None = None
) -> list[FollowUpFact]:
    """Unresolved follow-ups of sites in ``region`` (None: everywhere) opened by ``as_of``."""
    found: list[FollowUpFact] = []
    for _, module in modules("facts"):
        provider = getattr(module, "follow_up_facts", None)
        if provider is not None:
            found.extend(await provider(session, as_of=as_of, region=region))
    return found
