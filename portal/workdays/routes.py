"""The working-day calendar over JSON: coverage and a year's days (public: they are the State
Council's published arrangement), import and removal (administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from portal import clock, workdays
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession
from portal.workdays import service
from portal.workdays.schemas import CoverageRead, NoticeImport, YearDaysRead
from portal.workdays.settings import CalendarConfig

router = APIRouter(tags=["calendar"])

Year = Annotated[int, Path(ge=2000, le=2200, description="Calendar year, e.g. 2027")]
Admin = Annotated[User, Depends(require(Action.calendar_manage))]


@router.get(
    "/api/v1/calendar",
    response_model=CoverageRead,
    summary="Which years' holidays are known, and a warning for each year deadlines may reach "
    "that is not",
)
async def get_coverage(config: CalendarConfig) -> CoverageRead:
    found = workdays.coverage(clock.today(), horizon_days=config.calendar_warning_horizon_days)
    return CoverageRead.model_validate(found)


@router.get(
    "/api/v1/calendar/{year}",
    response_model=YearDaysRead,
    summary="A year's holidays and make-up working days",
)
async def get_year(session: DbSession, year: Year) -> YearDaysRead:
    return YearDaysRead.model_validate(await service.year_days(session, year))


@router.post(
    "/api/v1/admin/calendar",
    response_model=YearDaysRead,
    status_code=201,
    summary="Import the State Council's holiday notice for a year (replaces an earlier import)",
)
async def import_notice(session: DbSession, data: NoticeImport, actor: Admin) -> YearDaysRead:
    row = await service.import_notice(session, text=data.text, year=data.year, actor=actor)
    return YearDaysRead.model_validate(await service.year_days(session, row.year))


@router.delete(
    "/api/v1/admin/calendar/{year}",
    status_code=204,
    summary="Remove an imported notice (the year falls back to chinese-calendar, or unknown)",
)
async def remove_year(session: DbSession, year: Year, actor: Admin) -> Response:
    await service.remove_year(session, year=year, actor=actor)
    return Response(status_code=204)
