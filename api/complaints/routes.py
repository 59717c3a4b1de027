"""JSON API for mobile apps: photos, cases, tracking, staff workflow (Open311 in open311.py)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from api.complaints import categories, service
from api.complaints.errors import MissingFile
from api.complaints.models import CaseKind, CaseStatus, CoordSystem
from api.complaints.open311 import router as open311_router
from api.complaints.ratelimit import client_identity, get_limiter
from api.complaints.schemas import (
    CaseCreate,
    CaseCreated,
    CaseList,
    CaseRead,
    MediaRead,
    SimilarList,
    StaffAction,
    StaffCaseList,
    StaffCaseRead,
)
from api.complaints.storage import get_storage, temp_dir
from api.complaints.uploads import receive
from portal.accounts.auth import CurrentUser, OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession
from portal.settings import Settings

router = APIRouter()
router.include_router(open311_router)

Regulator = Annotated[User, Depends(require(Action.case_handle))]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


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
    request: Request, session: DbSession, settings: SettingsDep, user: OptionalUser
) -> MediaRead:
    await get_limiter(request).hit("media_client", client_identity(request))
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
        return await service.ingest_photo(session, settings, body.files[0], uploader=user)
    finally:
        body.discard()


@router.get(
    "/api/v1/media/{media_id}/{variant}",
    tags=["complaints"],
    summary="A photo derivative through a signed, expiring link",
    response_class=StreamingResponse,
)
async def media_derivative(
    media_id: uuid.UUID,
    variant: str,
    session: DbSession,
    settings: SettingsDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
) -> StreamingResponse:
    service.check_signature(settings, media_id, variant, expires, signature)
    media = await service.get_media(session, media_id)
    key = media.display_key if variant == "display" else media.thumbnail_key
    return StreamingResponse(
        get_storage(settings).stream(key),
        media_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/api/v1/staff/media/{media_id}/original",
    tags=["complaints-staff"],
    summary="The byte-exact original (evidence): staff handling the case only",
    response_class=StreamingResponse,
)
async def media_original(
    media_id: uuid.UUID, session: DbSession, settings: SettingsDep, actor: Regulator
) -> StreamingResponse:
    media = await service.original_for_staff(session, media_id, actor)
    return StreamingResponse(
        get_storage(settings).stream(media.original_key),
        media_type=media.content_type,
        headers={
            "Cache-Control": "private, no-store",
            "X-Content-SHA256": media.sha256,
            "Content-Disposition": f'attachment; filename="{media.id}"',
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
    user: OptionalUser,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> CaseCreated:
    limiter = get_limiter(request)
    await limiter.hit("case_client", client_identity(request))
    if user is not None:
        await limiter.hit("case_account", str(user.id))
    created, new = await service.submit_case(
        session, settings, data, user=user, idempotency_key=idempotency_key
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
    session: DbSession,
    settings: SettingsDep,
    instrument_token: Annotated[str | None, Query(max_length=128)] = None,
    certificate_number: Annotated[str | None, Query(max_length=64)] = None,
    business_uscc: Annotated[str | None, Query(max_length=18)] = None,
    business_name: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lng: Annotated[float | None, Query(ge=-180, le=180)] = None,
    coord_system: CoordSystem = CoordSystem.wgs84,
) -> SimilarList:
    items = await service.similar_cases(
        session,
        settings,
        instrument_token=instrument_token,
        certificate_number=certificate_number,
        business_uscc=business_uscc,
        business_name=business_name,
        category=category,
        lat=lat,
        lng=lng,
        coord_system=coord_system,
    )
    return SimilarList(items=items)


@router.get(
    "/api/v1/cases/{tracking_number}",
    tags=["complaints"],
    summary="Follow a case: header X-Case-Token, or as the logged-in owner",
)
async def track_case(
    tracking_number: str,
    session: DbSession,
    settings: SettingsDep,
    user: OptionalUser,
    x_case_token: Annotated[str | None, Header(max_length=128)] = None,
) -> CaseRead:
    return await service.case_for_tracker(
        session, settings, tracking_number[:24], token=x_case_token, user=user
    )


@router.get("/api/v1/users/me/cases", tags=["complaints"], summary="My cases")
async def my_cases(
    session: DbSession,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CaseList:
    items, total = await service.cases_of_user(session, user, limit=limit, offset=offset)
    return CaseList(items=items, total=total)


@router.get("/api/v1/staff/cases", tags=["complaints-staff"], summary="The case queue")
async def staff_queue(
    session: DbSession,
    actor: Regulator,
    status: CaseStatus | None = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    overdue: bool | None = None,
    kind: CaseKind | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> StaffCaseList:
    items, total = await service.staff_queue(
        session,
        actor,
        status=status,
        region=region,
        overdue=overdue,
        kind=kind,
        limit=limit,
        offset=offset,
    )
    return StaffCaseList(items=items, total=total)


@router.get(
    "/api/v1/staff/cases/{case_id}",
    tags=["complaints-staff"],
    summary="A case with photos, complainant data and history",
)
async def staff_case(
    case_id: uuid.UUID, session: DbSession, settings: SettingsDep, actor: Regulator
) -> StaffCaseRead:
    return await service.staff_case(session, settings, case_id, actor)


@router.post(
    "/api/v1/staff/cases/{case_id}/actions",
    tags=["complaints-staff"],
    summary="accept, reject, assign, note, mediate, conclude, extend, close, reopen, merge",
)
async def case_action(
    case_id: uuid.UUID,
    action: StaffAction,
    session: DbSession,
    settings: SettingsDep,
    actor: Regulator,
) -> StaffCaseRead:
    return await service.apply_action(session, settings, case_id, action, actor)
