"""Portal pages: the sticker landing page, the public lookup, the institution back office (import,
revoke, stickers) and the regulator's overdue list."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import Field, StringConstraints, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.certificates import imports, lookup, overdue, public, registry, scope_pages, stickers
from api.certificates.errors import CertificateNotFound, InstrumentNotFound
from api.certificates.hotpath import LOOKUP_INSTITUTION_MAX, LOOKUP_QUERY_MAX
from api.certificates.import_columns import COLUMN_NAMES_ZH, COLUMNS
from api.certificates.models import InstrumentCategory
from api.certificates.reader import get_reader
from api.certificates.schemas import (
    STATUS_ZH,
    CertificateCreate,
    CertificateHeld,
    CertificateRead,
    InstrumentSummary,
    VerifyResult,
)
from api.certificates.settings import CertificatesConfig, CertificatesSettings
from api.certificates.states import STATES
from portal import clock
from portal.accounts.auth import OptionalUser
from portal.accounts.models import Role, User
from portal.accounts.permissions import Action, role_allows
from portal.db import DbSession, read_public
from portal.errors import GongzhiError
from portal.pagination import PageRequest
from portal.regions.models import Region
from portal.types import BlankIsNone
from portal.web import render, render_public

router = APIRouter(include_in_schema=False)

# How long a browser or a CDN may keep an anonymous page: a revocation shows within a minute.
PAGE_MAX_AGE = 60


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return render_public(request, name, context, max_age=PAGE_MAX_AGE, status_code=status_code)


def complaint_url(instrument_token: str | None, status: str) -> str:
    """The complaint form for this instrument, with the category the state calls for."""
    params = {}
    if instrument_token:
        params["instrument_token"] = instrument_token
    category = STATES[status].complaint_category
    if category:
        params["category"] = category
    return "/complaints/new" + (f"?{urlencode(params)}" if params else "")


@router.get("/v/{token}")
async def sticker_landing(
    request: Request, config: CertificatesConfig, user: OptionalUser, token: str
) -> Response:
    """What a phone opens after scanning a sticker: one big badge, then the facts."""
    return await sticker_page(request, config, user, token)


@dataclass
class _SignedScan:
    result: VerifyResult
    status: str
    certificate: CertificateRead | None = None
    current: CertificateRead | None = None

    @property
    def confirmed(self) -> bool:
        return self.result.signature_valid and self.certificate is not None


async def _read_signed(
    session: AsyncSession, token: str, settings: CertificatesSettings
) -> _SignedScan:
    result = await stickers.verify_sticker(session, token, settings=settings)
    if not result.signature_valid:
        return _SignedScan(result, "forged")
    certificate = result.certificate
    if certificate is None:
        return _SignedScan(result, "not_found")
    scan = _SignedScan(result, certificate.status.value, certificate)
    # The sticker may be older than the instrument's latest verification: say so. The latest is
    # loaded only when it is another certificate (rare), not on every scan.
    instrument_token = certificate.instrument.sticker_token
    latest_number = await lookup.current_certificate_number(session, instrument_token)
    if latest_number is not None and latest_number != certificate.number:
        latest = await lookup.get_instrument(session, instrument_token, settings=settings)
        scan.current = latest.certificate
    return scan


class _Unconfirmed(Exception):
    """A signed sticker the session read could not confirm (forged, or its key or certificate
    not there), carried out of ``read_public`` so the primary is asked when it was the replica."""

    def __init__(self, scan: _SignedScan) -> None:
        self.scan = scan


async def _verify_signed(
    request: Request, token: str, settings: CertificatesSettings
) -> _SignedScan:
    """A signed sticker is verified on the read replica when one is fresh (the signing keys and
    the certificate are public reads). What the replica cannot confirm — a key or certificate
    that may not have reached it yet — is verified again on the primary, so a new sticker never
    looks forged or unknown because of replication."""

    async def read(session: AsyncSession) -> _SignedScan:
        scan = await _read_signed(session, token, settings)
        if not scan.confirmed:
            raise _Unconfirmed(scan)
        return scan

    try:
        return await read_public(request, read, missing=_Unconfirmed)
    except _Unconfirmed as unconfirmed:  # the primary's answer: forged or unknown indeed
        return unconfirmed.scan


async def sticker_page(
    request: Request, settings: CertificatesSettings, user: User | None, token: str
) -> Response:
    """The sticker page, for the route and for the hot path (hotpath.py), which serves anonymous
    scans without FastAPI's routing and dependency solving. A plain sticker is read with the
    driver-level point reads of the JSON lookup; a session (one read-only transaction) is opened
    only for a signed sticker, whose verification reads the signing keys."""
    context: dict[str, Any] = {
        "user": user,
        "signature": None,
        "certificate": None,
        "expiring_days": settings.certificate_expiring_days,
    }
    certificate: CertificateRead | None = None
    current: CertificateRead | None = None
    instrument: InstrumentSummary | None = None
    instrument_token: str | None = None
    status = "not_found"
    if "." in token:
        signed = await _verify_signed(request, token, settings)
        context["signature"] = signed.result
        certificate, current, status = signed.certificate, signed.current, signed.status
        if certificate is not None:
            instrument_token = certificate.instrument.sticker_token
    else:
        # A scan of a plain sticker: the two point reads on the driver, as the JSON lookup.
        try:
            found = await get_reader(request.app.state).instrument(
                token[:128], expiring_days=settings.certificate_expiring_days
            )
        except InstrumentNotFound:
            found = None
        if found is not None:
            instrument_token = token
            instrument = found.instrument
            certificate = found.certificate
            status = found.status
    state = STATES[status]
    context.update(
        status=status,
        state=state,
        certificate=certificate,
        instrument=instrument,
        current=current,
        current_state=STATES[current.status.value] if current else None,
        instrument_token=instrument_token,
        complaint_url=complaint_url(instrument_token, status),
    )
    return _page(
        request,
        "certificates/sticker.html",
        context,
        status_code=404 if status == "not_found" else 200,
    )


@router.get("/certificates")
async def lookup_page(
    request: Request,
    config: CertificatesConfig,
    user: OptionalUser,
    q: Annotated[str | None, Query(max_length=LOOKUP_QUERY_MAX)] = None,
    institution: Annotated[str | None, Query(max_length=LOOKUP_INSTITUTION_MAX)] = None,
) -> Response:
    return await certificate_lookup_page(request, config, user, q, institution)


class _NoSuchSerial(Exception):
    """No certificate of an instrument with that serial where it was read (the replica may not
    have it yet: read_public asks the primary)."""

    def __init__(self, listing: SimpleNamespace) -> None:
        self.listing = listing


async def certificate_lookup_page(
    request: Request,
    settings: CertificatesSettings,
    user: User | None,
    q: str | None,
    institution: str | None,
) -> Response:
    """The lookup page, for the route and for the hot path (hotpath.py), which serves anonymous
    visitors without FastAPI's routing and dependency solving: a certificate number is read with
    the driver-level reads of the JSON lookup; a session is opened only when the words are no
    certificate's number, to list the certificates of an instrument with that serial."""
    context: dict[str, Any] = {"user": user, "q": q or "", "certificate": None, "listing": None}
    query = (q or "").strip()
    if query:
        token = stickers.extract_token(query)
        if "/v/" in query and token:
            return RedirectResponse(f"/v/{quote(token)}", status_code=303)
        try:
            certificate = await get_reader(request.app.state).certificate(
                query, institution=institution, expiring_days=settings.certificate_expiring_days
            )
            context["certificate"] = certificate
            context["state"] = STATES[certificate.status.value]
            context["complaint_url"] = complaint_url(
                certificate.instrument.sticker_token, certificate.status.value
            )
        except CertificateNotFound:

            async def by_serial(session: AsyncSession) -> SimpleNamespace:
                items, total = await lookup.list_by_serial(
                    session,
                    serial=query,
                    category=None,
                    page=PageRequest(page=1, per_page=50),
                    settings=settings,
                )
                listing = SimpleNamespace(items=items, total=total)
                if not total:
                    raise _NoSuchSerial(listing)
                return listing

            try:
                context["listing"] = await read_public(request, by_serial, missing=_NoSuchSerial)
            except _NoSuchSerial as none:
                context["listing"] = none.listing
            context["states"] = STATES
        except GongzhiError as exc:
            context["error"] = exc.detail_zh
    return _page(request, "certificates/lookup.html", context)


# --- institution back office --------------------------------------------------------------------


def _login(request: Request) -> Response:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _forbidden(request: Request, user: User) -> Response:
    return render(request, "error.html", {"status": 403, "user": user}, status_code=403)


async def _backoffice(
    request: Request,
    config: CertificatesSettings,
    session: DbSession,
    user: User,
    institution: str | None,
    extra: dict[str, Any],
) -> Response:
    settings = config
    org = await registry.acting_institution(session, user, Action.certificate_issue, institution)
    search = request.query_params.get("q") or None
    rows = await lookup.list_institution_certificates(session, org, limit=50, query=search)
    statuses = await lookup.statuses_for(session, rows, settings=settings)
    issued = request.query_params.get("issued")
    if issued and any(row.number == issued for row in rows):
        # Only a number this institution really issued: a link cannot put other words here.
        extra = {"message_ok": f"证书 {issued} 已登记，已可公开查询。", **extra}
    context = {
        "user": user,
        "org": org,
        "rows": rows,
        "statuses": statuses,
        "states": STATES,
        "q": search or "",
        "institution_param": f"?institution={quote(org.code)}" if user.role == Role.admin else "",
        **extra,
    }
    return _page(request, "certificates/backoffice.html", context)


@router.get("/backoffice/certificates")
async def backoffice(
    request: Request,
    config: CertificatesConfig,
    session: DbSession,
    user: OptionalUser,
    institution: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.certificate_issue):
        return _forbidden(request, user)
    return await _backoffice(request, config, session, user, institution, {})


@router.post("/backoffice/certificates/import")
async def backoffice_import(
    request: Request,
    config: CertificatesConfig,
    session: DbSession,
    user: OptionalUser,
    file: Annotated[UploadFile, File()],
    institution: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.certificate_issue):
        return _forbidden(request, user)
    org = await registry.acting_institution(session, user, Action.certificate_issue, institution)
    try:
        report = await imports.import_file(
            session,
            file.file,
            file.filename or "",
            institution=org,
            actor=user,
            settings=config,
        )
    except GongzhiError as exc:
        return await _backoffice(
            request, config, session, user, institution, {"import_error": exc.detail_zh}
        )
    return await _backoffice(request, config, session, user, institution, {"report": report})


# The issue form's fields, in the order of a certificate's cover (JJF 1069), with their labels.
ISSUE_FIELDS: list[tuple[str, str]] = [
    # The file's columns but the kind (from the conclusion) and the coordinates (from a map).
    (name, COLUMN_NAMES_ZH[name])
    for name in COLUMNS
    if name not in ("kind", "latitude", "longitude")
]


async def _issue_form(
    request: Request,
    session: DbSession,
    user: User,
    institution: str | None,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    message: str | None,
    status_code: int = 200,
) -> Response:
    org = await registry.acting_institution(session, user, Action.certificate_issue, institution)
    categories = await session.scalars(
        select(InstrumentCategory).order_by(col(InstrumentCategory.sort_order))
    )
    return _page(
        request,
        "certificates/issue.html",
        {
            "user": user,
            "org": org,
            "fields": ISSUE_FIELDS,
            "categories": list(categories),
            "values": values,
            "errors": errors,
            "message_error": message,
            "today": clock.today().isoformat(),
        },
        status_code=status_code,
    )


@router.get("/backoffice/certificates/new")
async def issue_form(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    institution: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.certificate_issue):
        return _forbidden(request, user)
    return await _issue_form(
        request, session, user, institution, values={}, errors={}, message=None
    )


@router.post("/backoffice/certificates/new")
async def issue_one(
    request: Request,
    config: CertificatesConfig,
    session: DbSession,
    user: OptionalUser,
    institution: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    """One certificate from the form, through the same rules as the API and the import."""
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.certificate_issue):
        return _forbidden(request, user)
    form = await request.form()
    values = {
        name: str(form.get(name) or "").strip()[:300]
        for name, _ in ISSUE_FIELDS  # every field is bounded again by CertificateCreate
    }
    labels = dict(ISSUE_FIELDS)
    try:
        data = CertificateCreate.model_validate(
            {
                **{k: v for k, v in values.items() if v},
                "institution": institution,
            }
        )
        certificate, _ = await registry.issue_certificate(
            session, data, actor=user, settings=config
        )
    except ValidationError as exc:
        errors = {
            str(e["loc"][0]): _missing_or_invalid(labels.get(str(e["loc"][0]), ""), e["type"])
            for e in exc.errors()
            if e["loc"]
        }
        return await _issue_form(
            request, session, user, institution, values=values, errors=errors,
            message="有几项需要修改，见各项下方的说明。", status_code=422,
        )  # fmt: skip
    except GongzhiError as exc:
        errors = {
            str(e.get("field")): str(e.get("message_zh") or e.get("message"))
            for e in exc.errors or []
        }
        await session.rollback()
        return await _issue_form(
            request, session, user, institution, values=values, errors=errors,
            message=exc.detail_zh or exc.title_zh, status_code=exc.status,
        )  # fmt: skip
    if isinstance(certificate, CertificateHeld):
        return RedirectResponse("/backoffice/certificate-reviews?done=held", status_code=303)
    target = f"/backoffice/certificates?issued={quote(certificate.number)}"
    if user.role == Role.admin and institution:
        target += f"&institution={quote(institution)}"
    return RedirectResponse(target, status_code=303)


def _missing_or_invalid(label: str, error_type: str) -> str:
    if error_type == "missing" or error_type.startswith("string_too_short"):
        return f"请填写{label}。"
    if error_type.startswith("date"):
        return f"{label}不是有效日期，请按 2026-01-31 的格式填写。"
    if error_type.startswith("string_too_long"):
        return f"{label}太长了。"
    return f"{label}填写有误。"


@router.post("/backoffice/certificates/{number}/revoke")
async def backoffice_revoke(
    request: Request,
    config: CertificatesConfig,
    session: DbSession,
    user: OptionalUser,
    number: Annotated[str, Path(max_length=64)],  # as the API's certificate number
    reason: Annotated[str, Form(max_length=500)] = "",
    institution: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.certificate_revoke):
        return _forbidden(request, user)
    if len(reason.strip()) < 2:
        return await _backoffice(
            request,
            config,
            session,
            user,
            institution,
            {"message_error": "请填写注销原因（至少 2 个字）"},
        )
    try:
        await registry.revoke_certificate(
            session,
            number,
            reason=reason,
            actor=user,
            settings=config,
            institution_code=institution,
        )
    except GongzhiError as exc:
        return await _backoffice(
            request, config, session, user, institution, {"message_error": exc.detail_zh}
        )
    return await _backoffice(
        request, config, session, user, institution, {"message_ok": f"证书 {number} 已注销"}
    )


# --- regulator back office ----------------------------------------------------------------------


RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
WithinDays = Annotated[int, Field(ge=0, le=366)]


@router.get("/backoffice/overdue")
async def overdue_page(
    request: Request,
    config: CertificatesConfig,
    session: DbSession,
    user: OptionalUser,
    region: Annotated[RegionCode | None, BlankIsNone, Query()] = None,
    within_days: Annotated[WithinDays | None, BlankIsNone, Query()] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.instrument_overdue_view):
        return _forbidden(request, user)
    within_days = 30 if within_days is None else within_days  # the form's field left blank
    limit = 100
    region_code, as_of, items, total = await overdue.list_overdue(
        session,
        actor=user,
        region=region,
        within_days=within_days,
        page=PageRequest(page=page, per_page=limit),
        settings=config,
    )
    listing = SimpleNamespace(
        region=region_code, as_of=as_of, within_days=within_days, items=items, total=total
    )
    codes = {item.region_code for item in items} | {region_code}
    regions = await session.scalars(select(Region).where(col(Region.code).in_(codes)))
    return _page(
        request,
        "certificates/overdue.html",
        {
            "user": user,
            "listing": listing,
            "region_names": {r.code: r.full_name for r in regions},
            "page": page,
            "pages": max((total + limit - 1) // limit, 1),
            "states": STATES,
            "status_zh": STATUS_ZH,
        },
    )


# --- the compulsory catalogue ------------------------------------------------------------------

USAGE_AREAS = ("贸易结算", "安全防护", "医疗卫生", "环境监测")


@router.get("/catalogue")
async def catalogue_page(
    request: Request,
    user: OptionalUser,
    usage: Annotated[str | None, Query(max_length=8)] = None,
    q: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The compulsory catalogue in Chinese, grouped by its first-level names: what must be
    verified, how, under which regulation and how often."""
    today = clock.today()
    chosen = usage if usage in USAGE_AREAS else None
    word = (q or "").strip() or None
    entries = public.matching_entries(usage=chosen, q=word)
    groups: dict[str, list[Any]] = {}
    for entry in entries:
        groups.setdefault(entry.group, []).append(public.category_read(entry, today))
    return _page(
        request,
        "certificates/catalogue.html",
        {
            "user": user,
            "groups": groups,
            "total": len(entries),
            "usage": chosen or "",
            "q": word or "",
            "usage_areas": USAGE_AREAS,
            "catalogue": public.catalogue_version(),
            "today": today,
        },
    )


# 授权证书 and held certificates: their own module, included here (the shell loads ``pages``).
router.include_router(scope_pages.router)
