"""The owners' registration API: register one instrument or a file of them, list and read them
(the owner its own, the bureau its region), the bureau's confirm and reject, the owner's changes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile, status

from api.instruments import imports, registration, review
from api.instruments.errors import RegistrationFileTooLarge
from api.instruments.models import RegistrationStatus
from api.instruments.schemas import (
    InstrumentRegistrationCreate,
    InstrumentRegistrationRead,
    RegistrationChange,
    RegistrationImportReport,
    RegistrationList,
    RejectRequest,
)
from api.instruments.settings import InstrumentsConfig
from portal.accounts.auth import CurrentUser
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession
from portal.pagination import PageParams

router = APIRouter(tags=["instruments"])

Owner = Annotated[User, Depends(require(Action.instrument_register))]
Bureau = Annotated[User, Depends(require(Action.instrument_review))]
RegistrationId = Annotated[uuid.UUID, Path()]
OwnerCode = Annotated[str | None, Query(max_length=64, description="administrators only")]


async def _one(
    session: DbSession, registration_id: uuid.UUID, actor: User
) -> InstrumentRegistrationRead:
    found = await review.get_registration(session, registration_id, actor=actor)
    return (await review.read_models(session, [found], with_events=True))[0]


@router.post(
    "/api/v1/instruments",
    response_model=InstrumentRegistrationRead,
    status_code=status.HTTP_201_CREATED,
    summary="Register one compulsory-verification instrument (登记) for the owner",
)
async def register(
    session: DbSession, actor: Owner, data: InstrumentRegistrationCreate, owner: OwnerCode = None
) -> InstrumentRegistrationRead:
    created = await registration.register_instrument(session, data, actor=actor, owner_code=owner)
    return (await review.read_models(session, [created], with_events=True))[0]


@router.post(
    "/api/v1/instruments/import",
    response_model=RegistrationImportReport,
    summary="Register instruments from a CSV (UTF-8 or GB18030) or XLSX file, with a row report",
)
async def import_file(
    session: DbSession,
    actor: Owner,
    config: InstrumentsConfig,
    file: Annotated[UploadFile, File(description="CSV or XLSX")],
    owner: Annotated[str | None, Form(max_length=64)] = None,
) -> RegistrationImportReport:
    data = await file.read(config.registration_import_max_bytes + 1)
    if len(data) > config.registration_import_max_bytes:
        raise RegistrationFileTooLarge(
            detail_zh=f"文件超过 {config.registration_import_max_bytes // (1024 * 1024)} MB。"
        )
    return await imports.import_registrations(
        session,
        filename=(file.filename or "")[:200],
        data=data,
        actor=actor,
        settings=config,
        owner_code=owner,
    )


@router.get(
    "/api/v1/instrument-registrations",
    response_model=RegistrationList,
    summary="Registered instruments: the owner's own, or a bureau's region and below",
)
async def list_registrations(
    request: Request,
    session: DbSession,
    actor: CurrentUser,
    page: PageParams,
    status_: Annotated[RegistrationStatus | None, Query(alias="status")] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
) -> RegistrationList:
    rows, total = await review.list_registrations(
        session, actor=actor, page=page, status=status_, region=region
    )
    items = await review.read_models(session, rows)
    return RegistrationList.of(items, total=total, request=page, url=request)


@router.get(
    "/api/v1/instrument-registrations/{registration_id}",
    response_model=InstrumentRegistrationRead,
    summary="One registered instrument with its events",
)
async def read_registration(
    session: DbSession, actor: CurrentUser, registration_id: RegistrationId
) -> InstrumentRegistrationRead:
    return await _one(session, registration_id, actor)


@router.post(
    "/api/v1/instruments/{registration_id}/confirm",
    response_model=InstrumentRegistrationRead,
    summary="The bureau confirms a registration",
)
async def confirm(
    session: DbSession, actor: Bureau, registration_id: RegistrationId
) -> InstrumentRegistrationRead:
    await review.review_registration(session, registration_id, actor=actor, confirm=True)
    return await _one(session, registration_id, actor)


@router.post(
    "/api/v1/instruments/{registration_id}/reject",
    response_model=InstrumentRegistrationRead,
    summary="The bureau rejects a registration, with its reasons",
)
async def reject(
    session: DbSession, actor: Bureau, registration_id: RegistrationId, data: RejectRequest
) -> InstrumentRegistrationRead:
    await review.review_registration(
        session, registration_id, actor=actor, confirm=False, reason=data.reason
    )
    return await _one(session, registration_id, actor)


@router.post(
    "/api/v1/instruments/{registration_id}/events",
    response_model=InstrumentRegistrationRead,
    summary="The owner records a change: moved, retired or replaced",
)
async def change(
    session: DbSession, actor: Owner, registration_id: RegistrationId, data: RegistrationChange
) -> InstrumentRegistrationRead:
    await review.change_registration(session, registration_id, data, actor=actor)
    return await _one(session, registration_id, actor)
