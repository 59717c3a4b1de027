"""The owners' registration API: register one instrument or a file of them, list and read them
(the owner its own, the bureau its region), the bureau's confirm and reject, the owner's changes."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile, status
from fastapi.responses import Response

from api.instruments import (
    applications,
    imports,
    plans,
    registration,
    review,
    statistics,
    statistics_export,
)
from api.instruments.errors import RegistrationFileTooLarge
from api.instruments.models import ApplicationStatus, RegistrationStatus
from api.instruments.schemas import (
    ApplicationCreate,
    ApplicationList,
    ApplicationRead,
    AppointmentRequest,
    InstrumentRegistrationCreate,
    InstrumentRegistrationRead,
    InstrumentStatistics,
    PlanItemRead,
    RefuseApplication,
    RegistrationChange,
    RegistrationImportReport,
    RegistrationList,
    RejectRequest,
    VerificationPlan,
)
from api.instruments.settings import InstrumentsConfig
from portal import clock
from portal.accounts.auth import CurrentUser
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession
from portal.pagination import PageParams

router = APIRouter(tags=["instruments"])

Owner = Annotated[User, Depends(require(Action.instrument_register))]
Bureau = Annotated[User, Depends(require(Action.instrument_review))]
Institution = Annotated[User, Depends(require(Action.application_handle))]
ApplicationId = Annotated[uuid.UUID, Path()]
RegistrationId = Annotated[uuid.UUID, Path()]
OwnerCode = Annotated[str | None, Query(max_length=64, description="administrators only")]


_DOWNLOAD_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _download(content: str | bytes, filename: str) -> Response:
    """A plan or statistics export, offered as a file named for what it holds."""
    media_type = _DOWNLOAD_TYPES[filename.rsplit(".", 1)[-1]]
    disposition = f'attachment; filename="{filename}"'
    return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})


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


# --- verification applications (检定申请) and the institution's queue -------------------------


async def _application(
    session: DbSession, application_id: uuid.UUID, actor: User, config: InstrumentsConfig
) -> ApplicationRead:
    found = await applications.get_application(session, application_id, actor=actor)
    reads = await applications.application_reads(
        session, [found], settings=config, with_events=True
    )
    return reads[0]


@router.post(
    "/api/v1/verification-applications",
    response_model=ApplicationRead,
    status_code=status.HTTP_201_CREATED,
    summary="The owner applies to a designated institution for verification of its instruments",
)
async def submit_application(
    session: DbSession, actor: Owner, config: InstrumentsConfig, data: ApplicationCreate
) -> ApplicationRead:
    created = await applications.submit_application(session, data, actor=actor, settings=config)
    return await _application(session, created.id, actor, config)


@router.get(
    "/api/v1/verification-applications",
    response_model=ApplicationList,
    summary="Applications: the owner's own, or the institution's queue",
)
async def list_applications(
    request: Request,
    session: DbSession,
    actor: CurrentUser,
    config: InstrumentsConfig,
    page: PageParams,
    status_: Annotated[ApplicationStatus | None, Query(alias="status")] = None,
) -> ApplicationList:
    rows, total = await applications.list_applications(
        session, actor=actor, page=page, status=status_
    )
    items = await applications.application_reads(session, rows, settings=config)
    return ApplicationList.of(items, total=total, request=page, url=request)


@router.get(
    "/api/v1/verification-applications/{application_id}",
    response_model=ApplicationRead,
    summary="One application with its instruments and events",
)
async def read_application(
    session: DbSession, actor: CurrentUser, config: InstrumentsConfig, application_id: ApplicationId
) -> ApplicationRead:
    return await _application(session, application_id, actor, config)


@router.post(
    "/api/v1/verification-applications/{application_id}/accept",
    response_model=ApplicationRead,
    summary="The institution accepts with an appointment (date, on-site address, staff)",
)
async def accept_application(
    session: DbSession,
    actor: Institution,
    config: InstrumentsConfig,
    application_id: ApplicationId,
    data: AppointmentRequest,
) -> ApplicationRead:
    await applications.accept_application(session, application_id, data, actor=actor)
    return await _application(session, application_id, actor, config)


@router.post(
    "/api/v1/verification-applications/{application_id}/reschedule",
    response_model=ApplicationRead,
    summary="The institution moves an accepted application's appointment",
)
async def reschedule_application(
    session: DbSession,
    actor: Institution,
    config: InstrumentsConfig,
    application_id: ApplicationId,
    data: AppointmentRequest,
) -> ApplicationRead:
    await applications.accept_application(
        session, application_id, data, actor=actor, reschedule=True
    )
    return await _application(session, application_id, actor, config)


@router.post(
    "/api/v1/verification-applications/{application_id}/refuse",
    response_model=ApplicationRead,
    summary="The institution refuses, with its reasons",
)
async def refuse_application(
    session: DbSession,
    actor: Institution,
    config: InstrumentsConfig,
    application_id: ApplicationId,
    data: RefuseApplication,
) -> ApplicationRead:
    await applications.refuse_application(session, application_id, data.reason, actor=actor)
    return await _application(session, application_id, actor, config)


@router.post(
    "/api/v1/verification-applications/{application_id}/complete",
    response_model=ApplicationRead,
    summary="The institution completes it once every instrument has its certificate or notice",
)
async def complete_application(
    session: DbSession, actor: Institution, config: InstrumentsConfig, application_id: ApplicationId
) -> ApplicationRead:
    await applications.complete_application(session, application_id, actor=actor)
    return await _application(session, application_id, actor, config)


@router.post(
    "/api/v1/verification-applications/{application_id}/cancel",
    response_model=ApplicationRead,
    summary="The owner withdraws an open application",
)
async def cancel_application(
    session: DbSession, actor: Owner, config: InstrumentsConfig, application_id: ApplicationId
) -> ApplicationRead:
    await applications.cancel_application(session, application_id, actor=actor)
    return await _application(session, application_id, actor, config)


# --- verification plans (检定计划) ------------------------------------------------------------

Months = Annotated[int, Query(ge=1, le=24, description="How far ahead")]


@router.get(
    "/api/v1/verification-plan",
    response_model=VerificationPlan,
    summary="Instruments due in the next N months: the owner's own, or the institution's",
)
async def verification_plan(
    session: DbSession, actor: CurrentUser, months: Months = 3
) -> VerificationPlan:
    until, items, cut = await plans.plan(session, actor=actor, months=months)
    return VerificationPlan(
        as_of=clock.today(),
        until=until,
        months=months,
        truncated=cut,
        items=[
            PlanItemRead(
                due_on=i.due_on,
                action=i.action,
                action_name=plans.ACTION_ZH[i.action],
                registration=i.registration,
            )
            for i in items
        ],
    )


@router.get(
    "/api/v1/verification-plan.csv",
    response_class=Response,
    summary="The plan as CSV (UTF-8 with BOM, cells safe for spreadsheets)",
)
async def verification_plan_csv(
    session: DbSession, actor: CurrentUser, months: Months = 3
) -> Response:
    _, items, _ = await plans.plan(session, actor=actor, months=months)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(plans.export_rows(items))
    return _download("\ufeff" + buffer.getvalue(), "verification-plan.csv")


@router.get(
    "/api/v1/verification-plan.xlsx",
    response_class=Response,
    summary="The plan as an XLSX workbook (cells safe for spreadsheets)",
)
async def verification_plan_xlsx(
    session: DbSession, actor: CurrentUser, months: Months = 3
) -> Response:
    until, items, _ = await plans.plan(session, actor=actor, months=months)
    return _download(plans.to_xlsx(items, until=until), "verification-plan.xlsx")


# --- regional statistics for regulators (辖区强检器具统计) -----------------------------------------

Regulator = Annotated[User, Depends(require(Action.instrument_statistics_view))]
StatisticsRegion = Annotated[
    str | None,
    Query(pattern=r"^\d{6}$", description="GB/T 2260 code; default: the regulator's own region"),
]


@router.get(
    "/api/v1/instrument-statistics",
    response_model=InstrumentStatistics,
    summary="Registered instruments of a region and below: by category and state, rates, "
    "time from application to result by institution, the last 12 months",
)
async def instrument_statistics(
    session: DbSession, actor: Regulator, config: InstrumentsConfig, region: StatisticsRegion = None
) -> InstrumentStatistics:
    return await statistics.regional_statistics(
        session, actor=actor, region=region, settings=config
    )


@router.get(
    "/api/v1/instrument-statistics.csv",
    response_class=Response,
    summary="The regional statistics as CSV (UTF-8 with BOM, cells safe for spreadsheets)",
)
async def instrument_statistics_csv(
    session: DbSession, actor: Regulator, config: InstrumentsConfig, region: StatisticsRegion = None
) -> Response:
    stats = await statistics.regional_statistics(
        session, actor=actor, region=region, settings=config
    )
    return _download(statistics_export.to_csv(stats), statistics_export.filename(stats, "csv"))


@router.get(
    "/api/v1/instrument-statistics.xlsx",
    response_class=Response,
    summary="The regional statistics as XLSX (one sheet per table, cells safe for spreadsheets)",
)
async def instrument_statistics_xlsx(
    session: DbSession, actor: Regulator, config: InstrumentsConfig, region: StatisticsRegion = None
) -> Response:
    stats = await statistics.regional_statistics(
        session, actor=actor, region=region, settings=config
    )
    return _download(statistics_export.to_xlsx(stats), statistics_export.filename(stats, "xlsx"))
