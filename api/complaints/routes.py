"""JSON API for mobile apps: photos, cases, tracking, staff workflow (Open311 in open311.py)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from api.complaints import categories, documents, intake, media, staff, tracking, workflow
from api.complaints.errors import MissingFile
from api.complaints.models import CaseKind, CaseStatus, CoordSystem
from api.complaints.open311 import router as open311_router
from api.complaints.schemas import (
    CaseCreate,
    CaseCreated,
    CaseFeedback,
    CaseRead,
    CaseSummary,
    MediaRead,
    SimilarCase,
    StaffAction,
    StaffCaseRead,
    StaffCaseSummary,
)
from api.complaints.settings import ComplaintsConfig, ComplaintsSettings
from api.complaints.storage import get_storage, opened, temp_dir
from api.complaints.uploads import receive
from portal.accounts.auth import CurrentUser, OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession
from portal.deps import SettingsDep
from portal.pagination import Page, PageParams
from portal.ratelimit import client_ip, get_rate_limiter

router = APIRouter()
router.include_router(open311_router)

Regulator = Annotated[User, Depends(require(Action.case_handle))]


@router.get("/api/v1/case-categories", tags=["complaints"], summary="Categories and their fields")
async def list_categories() -> list[dict[str, Any]]:
    return [
        {
            "code": c.code,
            "name": c.name,
            "description": c.description,
            "fields": [
                {
                    "code": a.code,
                    "description": a.description,
                    "datatype": a.datatype,
                    "required": a.required,
                    "values": [{"key": k, "name": n} for k, n in a.values],
                }
                for a in c.attributes
            ],
        }
        for c in categories.CATEGORIES
    ]


@router.post(
    "/api/v1/media",
    tags=["complaints"],
    status_code=201,
    summary="Upload one photo (multipart field `file`) before submitting the case",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                }
            }
        }
    },
)
async def upload_media(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    config: ComplaintsConfig,
    user: OptionalUser,
) -> MediaRead:
    client = client_ip(request)
    await get_rate_limiter(request).enforce(config.media_rate_limit_client, "media_client", client)
    body = await receive(
        request,
        tmp_dir=temp_dir(settings),
        max_file_bytes=settings.max_upload_bytes,
        file_fields=frozenset({"file"}),
        max_files=1,
    )
    try:
        if not body.files:
            raise MissingFile()
        return await media.ingest_photo(session, body.files[0], settings=settings, uploader=user)
    finally:
        body.discard()


@router.get(
    "/api/v1/media/{media_id}/{variant}",
    tags=["complaints"],
    summary="A photo derivative through a signed, expiring link",
    response_class=StreamingResponse,
    responses={307: {"description": "Served by the photo object store (presigned URL)"}},
)
async def media_derivative(
    media_id: uuid.UUID,
    variant: str,
    session: DbSession,
    settings: SettingsDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
) -> Response:
    media.check_signature(settings, media_id, variant, expires, signature)
    photo = await media.get_media(session, media_id)
    presigned = await media.presigned_derivative(settings, photo, variant, expires=expires)
    if presigned is not None:  # the object store serves it (GONGZHI_PHOTO_S3_PRESIGNED_REDIRECT)
        return RedirectResponse(presigned, status_code=307, headers={"Cache-Control": "no-store"})
    key = photo.display_key if variant == "display" else photo.thumbnail_key
    return StreamingResponse(
        await opened(get_storage(settings).stream(key)),
        media_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/api/v1/staff/media/{media_id}/original",
    tags=["complaints-staff"],
    summary="The byte-exact original (evidence, EXIF and GPS included): the handling regulator only",
    response_class=StreamingResponse,
)
async def media_original(
    media_id: uuid.UUID, session: DbSession, settings: SettingsDep, actor: Regulator
) -> StreamingResponse:
    original = await media.original_for_staff(session, media_id, actor=actor)
    return StreamingResponse(
        await opened(get_storage(settings).stream(original.original_key)),
        media_type=original.content_type,
        headers={
            "Cache-Control": "private, no-store",
            "X-Content-SHA256": original.sha256,
            "Content-Disposition": f'attachment; filename="{original.id}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post(
    "/api/v1/cases",
    tags=["complaints"],
    status_code=201,
    summary="Submit a complaint, a report, or both (two linked cases), idempotently",
)
async def submit_case(
    request: Request,
    response: Response,
    data: CaseCreate,
    session: DbSession,
    settings: SettingsDep,
    config: ComplaintsConfig,
    user: OptionalUser,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> CaseCreated:
    limiter = get_rate_limiter(request)
    client = client_ip(request)
    await limiter.enforce(config.case_rate_limit_client, "case_client", client)
    if user is not None:
        await limiter.enforce(config.case_rate_limit_account, "case_account", str(user.id))
    created, new = await intake.submit_case(
        session,
        data,
        settings=settings,
        user=user,
        client=client,
        idempotency_key=idempotency_key,
    )
    if not new:
        response.headers["Idempotent-Replayed"] = "true"
    return created


@router.get(
    "/api/v1/cases/similar",
    tags=["complaints"],
    summary="Open cases about the same instrument, or business and category, or nearby",
)
async def similar_cases(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    page: PageParams,
    instrument_token: Annotated[str | None, Query(max_length=128)] = None,
    certificate_number: Annotated[str | None, Query(max_length=64)] = None,
    business_uscc: Annotated[str | None, Query(max_length=18)] = None,
    business_name: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lng: Annotated[float | None, Query(ge=-180, le=180)] = None,
    coord_system: CoordSystem = CoordSystem.wgs84,
) -> Page[SimilarCase]:
    items, total = await tracking.similar_cases(
        session,
        settings=settings,
        page=page,
        instrument_token=instrument_token,
        certificate_number=certificate_number,
        business_uscc=business_uscc,
        business_name=business_name,
        category=category,
        lat=lat,
        lng=lng,
        coord_system=coord_system,
    )
    return Page[SimilarCase].of(items, total=total, request=page, url=request)


async def _limit_code_tries(
    request: Request, config: ComplaintsSettings, token: str | None
) -> None:
    """Tries of a 查询码 count against the client's limit (docs/reliability.md)."""
    if token is not None:
        await get_rate_limiter(request).enforce(
            config.track_rate_limit_client, "track_client", client_ip(request)
        )


@router.get(
    "/api/v1/cases/{tracking_number}",
    tags=["complaints"],
    summary="Follow a case: header X-Case-Token, or as the logged-in owner",
)
async def track_case(
    request: Request,
    tracking_number: str,
    session: DbSession,
    settings: SettingsDep,
    config: ComplaintsConfig,
    user: OptionalUser,
    x_case_token: Annotated[str | None, Header(max_length=128)] = None,
) -> CaseRead:
    await _limit_code_tries(request, config, x_case_token)
    return await tracking.case_for_tracker(
        session, tracking_number[:24], settings=settings, token=x_case_token, user=user
    )


@router.post(
    "/api/v1/cases/{tracking_number}/feedback",
    status_code=204,
    tags=["complaints"],
    summary="Rate how a finished case was handled (回访): X-Case-Token, or as the owner",
)
async def case_feedback(
    request: Request,
    tracking_number: str,
    data: CaseFeedback,
    session: DbSession,
    config: ComplaintsConfig,
    user: OptionalUser,
    x_case_token: Annotated[str | None, Header(max_length=128)] = None,
) -> Response:
    await _limit_code_tries(request, config, x_case_token)
    await tracking.give_feedback(session, tracking_number[:24], data, token=x_case_token, user=user)
    return Response(status_code=204)


@router.get(
    "/api/v1/cases/{tracking_number}/documents/{document_id}",
    tags=["complaints"],
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="A legal document of the case as PDF (受理通知书…): X-Case-Token, or as the owner",
)
async def case_document(
    request: Request,
    tracking_number: str,
    document_id: uuid.UUID,
    session: DbSession,
    config: ComplaintsConfig,
    user: OptionalUser,
    x_case_token: Annotated[str | None, Header(max_length=128)] = None,
) -> Response:
    await _limit_code_tries(request, config, x_case_token)
    document = await tracking.document_for_tracker(
        session, tracking_number[:24], document_id, config=config, token=x_case_token, user=user
    )
    return documents.pdf_response(document, await documents.pdf_of(document, config))


@router.get("/api/v1/users/me/cases", tags=["complaints"], summary="My cases")
async def my_cases(
    request: Request, session: DbSession, user: CurrentUser, page: PageParams
) -> Page[CaseSummary]:
    items, total = await tracking.cases_of_user(session, user, page=page)
    return Page[CaseSummary].of(items, total=total, request=page, url=request)


@router.get("/api/v1/staff/cases", tags=["complaints-staff"], summary="The case queue")
async def staff_queue(
    request: Request,
    session: DbSession,
    actor: Regulator,
    page: PageParams,
    status: CaseStatus | None = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    overdue: bool | None = None,
    kind: CaseKind | None = None,
) -> Page[StaffCaseSummary]:
    items, total = await staff.staff_queue(
        session, actor, status=status, region=region, overdue=overdue, kind=kind, page=page
    )
    return Page[StaffCaseSummary].of(items, total=total, request=page, url=request)


@router.get(
    "/api/v1/staff/cases/{case_id}",
    tags=["complaints-staff"],
    summary="A case with photos, complainant data and history",
)
async def staff_case(
    case_id: uuid.UUID, session: DbSession, settings: SettingsDep, actor: Regulator
) -> StaffCaseRead:
    return await staff.staff_case(session, case_id, settings=settings, actor=actor)


@router.get(
    "/api/v1/staff/cases/{case_id}/documents/{document_id}",
    tags=["complaints-staff"],
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="A legal document of the case as PDF: the handling regulator of its region only",
)
async def staff_case_document(
    case_id: uuid.UUID,
    document_id: uuid.UUID,
    session: DbSession,
    config: ComplaintsConfig,
    actor: Regulator,
) -> Response:
    document = await staff.document_for_staff(
        session, case_id, document_id, config=config, actor=actor
    )
    return documents.pdf_response(document, await documents.pdf_of(document, config))


@router.post(
    "/api/v1/staff/cases/{case_id}/actions",
    tags=["complaints-staff"],
    summary="A staff action: accept, reject, assign, note, mediate, conclude, extend, pause, "
    "resume, close, reopen, merge, repeat, transfer, dispatch, dispute, escalate",
)
async def case_action(
    case_id: uuid.UUID,
    action: StaffAction,
    session: DbSession,
    settings: SettingsDep,
    actor: Regulator,
) -> StaffCaseRead:
    return await workflow.apply_action(session, case_id, action, settings=settings, actor=actor)
