from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from urllib.parse import quote

import segno
from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.certificates import (
    imports,
    labels,
    lookup,
    public,
    registry,
    review_routes,
    stickers,
)
from api.certificates import overdue as overdue_list
from api.certificates.errors import LabelsDoNotFit
from api.certificates.reader import get_reader
from api.certificates.schemas import (
    CertificateCreate,
    CertificateHeld,
    CertificateList,
    CertificateRead,
    CorrectionCreate,
    ImportReport,
    InstrumentCategoryList,
    InstrumentCategoryRead,
    InstrumentRead,
    OverdueItem,
    OverdueList,
    RevokeRequest,
    TrustList,
    VerifyRequest,
    VerifyResult,
)
from api.certificates.settings import CertificatesConfig, CertificatesSettings
from portal import clock
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession, get_database
from portal.deps import SettingsDep
from portal.exports import safe_cell
from portal.pagination import Page, PageParams
from portal.settings import Settings
from portal.types import IsoDate

router = APIRouter(tags=["certificates"])

Issuer = Annotated[User, Depends(require(Action.certificate_issue))]
Revoker = Annotated[User, Depends(require(Action.certificate_revoke))]
OverdueViewer = Annotated[User, Depends(require(Action.instrument_overdue_view))]
Number = Annotated[str, Path(max_length=64)]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "certificate_not_found (problem+json)"}
}


def cached_json(request: Request, body: bytes, *, max_age: int) -> Response:
    """JSON with a strong ETag; a matching If-None-Match gets 304 and no body."""
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


# --- public -----------------------------------------------------------------------------------


@router.get(
    "/api/v1/trust-list",
    response_model=TrustList,
    summary="Public keys that sign stickers, for offline verification (docs/stickers.md)",
)
async def get_trust_list(request: Request, session: DbSession, settings: SettingsDep) -> Response:
    trust = await stickers.trust_list(session, settings=settings)
    body = trust.model_dump_json(exclude={"generated_at"}).encode()
    return cached_json(request, body, max_age=3600)


@router.post(
    "/api/v1/certificates/verify",
    response_model=VerifyResult,
    summary="Verify a sticker's signature and get the certificate's status online",
)
async def verify(
    session: DbSession, config: CertificatesConfig, data: VerifyRequest
) -> VerifyResult:
    return await stickers.verify_sticker(session, data.payload, settings=config)


@router.get(
    "/api/v1/certificates",
    response_model=CertificateList,
    summary="Certificates of the instrument with this serial (出厂编号), newest first",
)
async def list_certificates(
    request: Request,
    session: DbSession,
    config: CertificatesConfig,
    page: PageParams,
    serial: Annotated[str, Query(min_length=1, max_length=100)],
    category: Annotated[str | None, Query(max_length=32)] = None,
) -> CertificateList:
    items, total = await lookup.list_by_serial(
        session, serial=serial.strip(), category=category, page=page, settings=config
    )
    return CertificateList.of(items, total=total, request=page, url=request)


@router.get(
    "/api/v1/certificates/{number}",  # noqa: FAST003 - read from path_params on the hot path
    response_model=CertificateRead,
    responses=_NOT_FOUND,
    summary="A certificate with its computed status and history",
    openapi_extra={
        "parameters": [
            {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}},
            {
                "name": "institution",
                "in": "query",
                "required": False,
                "description": "Institution code, when several issued the same number",
                "schema": {"type": "string", "maxLength": 64},
            },
        ]
    },
)
async def get_certificate(request: Request) -> Response:
    # The hot path: parameters read by hand (no dependency solving), no session, one query on
    # the driver (api/certificates/reader.py).
    settings = request.app.state.settings.of(CertificatesSettings)
    institution = (
        (request.query_params.get("institution") or None)
        if request.scope.get("query_string")
        else None
    )
    body = await get_reader(request.app.state).certificate_json(
        request.path_params["number"],
        institution=institution[:64] if institution else None,
        expiring_days=settings.certificate_expiring_days,
    )
    return cached_json(request, body, max_age=settings.certificate_lookup_max_age)


# --- the compulsory catalogue ------------------------------------------------------------------

Usage = Literal["贸易结算", "安全防护", "医疗卫生", "环境监测"]
VerificationFormName = Literal["periodic", "initial_rotation", "initial_scrap", "none"]


@router.get(
    "/api/v1/instrument-categories",
    response_model=InstrumentCategoryList,
    summary="The compulsory catalogue (公告2020年第42号): categories, regulations, cycles",
)
async def instrument_categories(
    request: Request,
    page: PageParams,
    usage: Annotated[Usage | None, Query(description="贸易结算 / 安全防护 / …")] = None,
    form: Annotated[VerificationFormName | None, Query(description="实施方式")] = None,
    q: Annotated[str | None, Query(max_length=32, description="A word of the name")] = None,
    on: Annotated[
        IsoDate | None,
        Query(description="Read the regulations in force on this day (default: today)"),
    ] = None,
) -> InstrumentCategoryList:
    day = on or clock.today()
    items, total = public.list_categories(page=page, on=day, usage=usage, form=form, q=q)
    listed = Page[InstrumentCategoryRead].of(items, total=total, request=page, url=request)
    return InstrumentCategoryList(
        **listed.model_dump(exclude={"items"}),
        items=items,
        catalogue=public.catalogue_version(),
        on=day,
    )


# --- regulators (declared before /instruments/{token}) ------------------------------------------


@router.get(
    "/api/v1/instruments/overdue",
    response_model=OverdueList,
    summary="Instruments in a region whose certificate expired or expires soon, or never had one",
)
async def overdue(
    request: Request,
    session: DbSession,
    actor: OverdueViewer,
    config: CertificatesConfig,
    page: PageParams,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    within_days: Annotated[int, Query(ge=0, le=366)] = 30,
) -> OverdueList:
    region_code, as_of, items, total = await overdue_list.list_overdue(
        session, actor=actor, region=region, within_days=within_days, page=page, settings=config
    )
    listed = Page[OverdueItem].of(items, total=total, request=page, url=request)
    return OverdueList(
        **listed.model_dump(exclude={"items"}),
        items=items,
        region=region_code,
        within_days=within_days,
        as_of=as_of,
    )


CSV_HEADER = [
    "出厂编号",
    "器具类别",
    "型号",
    "所有人",
    "统一社会信用代码",
    "地址",
    "行政区划代码",
    "状态",
    "证书编号",
    "有效期至",
    "逾期天数",
    "器具标识",
    "登记状态",
]


@router.get(
    "/api/v1/instruments/overdue.csv",
    summary="The overdue list as CSV (UTF-8 with BOM, opens in Excel)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def overdue_csv(
    request: Request,
    session: DbSession,
    actor: OverdueViewer,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    within_days: Annotated[int, Query(ge=0, le=366)] = 30,
) -> StreamingResponse:
    region_code = await overdue_list.check_overdue_access(session, actor, region)
    return overdue_csv_response(request, region_code, within_days)


def overdue_csv_response(request: Request, region: str, within_days: int) -> StreamingResponse:
    settings = request.app.state.settings.of(CertificatesSettings)
    database = get_database(request)

    async def rows() -> AsyncIterator[bytes]:
        # The request's session is closed once the route returns; the export reads with its own.
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_HEADER)
        yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
        async with database.sessionmaker() as session:
            async for item in overdue_list.iter_overdue(
                session, region=region, within_days=within_days, settings=settings
            ):
                buffer.seek(0)
                buffer.truncate()
                writer.writerow(
                    safe_cell(cell)
                    for cell in [
                        item.serial,
                        item.category_name,
                        item.model,
                        item.owner_name,
                        item.owner_uscc or "",
                        item.address,
                        item.region_code,
                        item.status_name,
                        item.certificate_number or "",
                        item.valid_until.isoformat() if item.valid_until else "",
                        item.days_overdue,
                        item.sticker_token or "",
                        "待确认" if item.registration_status == "pending" else "",
                    ]
                )
                yield buffer.getvalue().encode("utf-8")

    filename = f"overdue-{region}.csv"
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/api/v1/instruments/{sticker_token}",
    response_model=InstrumentRead,
    summary="An instrument by its sticker token, with its current certificate's status",
)
async def get_instrument(
    request: Request,
    session: DbSession,
    config: CertificatesConfig,
    sticker_token: Annotated[str, Path(max_length=64)],
) -> Response:
    instrument = await lookup.get_instrument(session, sticker_token, settings=config)
    return cached_json(
        request, instrument.model_dump_json().encode(), max_age=config.certificate_lookup_max_age
    )


# --- institutions -----------------------------------------------------------------------------


@router.post(
    "/api/v1/certificates",
    response_model=CertificateRead,
    status_code=status.HTTP_201_CREATED,
    summary="Issue one certificate (an identical repeat returns 200 and changes nothing)",
    description="Refused with certificate_outside_scope (422) outside the institution's "
    "authorisation (授权证书). A certificate whose registered instrument is ambiguous is stored "
    "but held for the bureau: 202 with the held certificate's review id.",
    responses={status.HTTP_202_ACCEPTED: {"model": CertificateHeld}},
)
async def issue(
    response: Response,
    session: DbSession,
    actor: Issuer,
    config: CertificatesConfig,
    data: CertificateCreate,
) -> Any:
    certificate, created = await registry.issue_certificate(
        session, data, actor=actor, settings=config
    )
    if isinstance(certificate, CertificateHeld):
        response.status_code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        return JSONResponse(certificate.model_dump(mode="json"), status_code=response.status_code)
    if not created:
        response.status_code = status.HTTP_200_OK
    return certificate


@router.post(
    "/api/v1/certificates/import",
    response_model=ImportReport,
    summary="Import certificates from CSV (UTF-8/GB18030), XLSX or JSON Lines",
)
async def import_certificates(
    session: DbSession,
    actor: Issuer,
    config: CertificatesConfig,
    file: Annotated[UploadFile, File(description="CSV, XLSX or JSON Lines")],
    institution: Annotated[str | None, Form(max_length=64)] = None,
) -> ImportReport:
    org = await registry.acting_institution(session, actor, Action.certificate_issue, institution)
    return await imports.import_file(
        session, file.file, file.filename or "", institution=org, actor=actor, settings=config
    )


@router.post(
    "/api/v1/certificates/{number}/revoke",
    response_model=CertificateRead,
    summary="Revoke a certificate (注销) with a reason",
)
async def revoke(
    session: DbSession,
    actor: Revoker,
    config: CertificatesConfig,
    number: Number,
    data: RevokeRequest,
    institution: Annotated[str | None, Query(max_length=64)] = None,
) -> CertificateRead:
    return await registry.revoke_certificate(
        session,
        number,
        reason=data.reason,
        actor=actor,
        settings=config,
        institution_code=institution,
    )


@router.post(
    "/api/v1/certificates/{number}/correct",
    response_model=CertificateRead,
    status_code=status.HTTP_201_CREATED,
    summary="Issue a corrected certificate under a new number; the old one becomes superseded",
)
async def correct(
    session: DbSession,
    actor: Issuer,
    config: CertificatesConfig,
    number: Number,
    data: CorrectionCreate,
) -> CertificateRead:
    return await registry.correct_certificate(
        session, number, data.certificate, reason=data.reason, actor=actor, settings=config
    )


async def _sticker(
    settings: Settings, session: DbSession, actor: User, number: str, institution: str | None
) -> segno.QRCode:
    url = await stickers.sticker_url(
        session, number, actor=actor, settings=settings, institution_code=institution
    )
    return segno.make(url, error="m", micro=False)


@router.get(
    "/api/v1/certificates/{number}/sticker.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
    summary="The signed QR sticker as SVG",
)
async def sticker_svg(
    settings: SettingsDep,
    session: DbSession,
    actor: Issuer,
    number: Number,
    institution: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    qr = await _sticker(settings, session, actor, number, institution)
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=4, border=4, title=f"检定证书 {number}")
    return Response(
        buffer.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "private"}
    )


@router.get(
    "/api/v1/certificates/{number}/sticker.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    summary="The signed QR sticker as PNG",
)
async def sticker_png(
    settings: SettingsDep,
    session: DbSession,
    actor: Issuer,
    number: Number,
    institution: Annotated[str | None, Query(max_length=64)] = None,
    scale: Annotated[int, Query(ge=2, le=20)] = 8,
) -> Response:
    qr = await _sticker(settings, session, actor, number, institution)
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=scale, border=4)
    return Response(buffer.getvalue(), media_type="image/png", headers={"Cache-Control": "private"})


LabelSizeName = Annotated[
    Literal["40x30", "50x30", "60x40"], Query(description="Label width x height, mm")
]


async def _label(
    settings: Settings,
    session: DbSession,
    actor: User,
    number: str,
    institution: str | None,
    size: str,
) -> tuple[labels.Layout, str]:
    content = await stickers.label_content(
        session, number, actor=actor, settings=settings, institution_code=institution
    )
    return labels.label_layout(content, labels.SIZES[size]), content.number


@router.get(
    "/api/v1/certificates/{number}/label.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
    summary="A printable label at its size in mm: QR, 检定合格 or the state, number, date, institution",
)
async def label_svg(
    settings: SettingsDep,
    session: DbSession,
    actor: Issuer,
    number: Number,
    institution: Annotated[str | None, Query(max_length=64)] = None,
    size: LabelSizeName = "40x30",
) -> Response:
    layout, normal = await _label(settings, session, actor, number, institution, size)
    return Response(
        labels.label_svg(layout, title=f"检定标志 {normal}"),
        media_type="image/svg+xml",
        headers={"Cache-Control": "private"},
    )


@router.get(
    "/api/v1/certificates/{number}/label.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="The printable label as PDF: one label, or copies on an A4 sheet of labels",
)
async def label_pdf(
    settings: SettingsDep,
    session: DbSession,
    actor: Issuer,
    config: CertificatesConfig,
    number: Number,
    institution: Annotated[str | None, Query(max_length=64)] = None,
    size: LabelSizeName = "40x30",
    sheet: Annotated[bool, Query(description="An A4 sheet of labels")] = False,
    copies: Annotated[int, Query(ge=1, le=100)] = 1,
    start: Annotated[int, Query(ge=1, le=100, description="First position on the sheet")] = 1,
) -> Response:
    fonts = labels.label_fonts(config.certificate_label_font_file)
    layout, normal = await _label(settings, session, actor, number, institution, size)
    if sheet:
        columns, rows = labels.sheet_grid(layout)
        if start - 1 + copies > columns * rows:
            raise LabelsDoNotFit(
                detail_zh=f"一张 A4 标签纸放 {columns * rows} 张 {size} 毫米标签，"
                f"从第 {start} 张起最多打印 {max(columns * rows - start + 1, 0)} 张。"
            )
    # Embedding the font subset takes most of a second: off the event loop.
    body = await run_in_threadpool(
        labels.labels_pdf,
        layout,
        fonts=fonts,
        title=f"检定标志 {normal}",
        sheet=sheet,
        copies=copies,
        start=start,
    )
    filename = f"label-{normal}-{size}{'-a4' if sheet else ''}.pdf"
    return Response(
        body,
        media_type="application/pdf",
        headers={
            "Cache-Control": "private",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}",
        },
    )


# The bureau's review of institutions (授权证书, 待核对证书), after every route above as before.
router.include_router(review_routes.router)
