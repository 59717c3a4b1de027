"""``gongzhi calendar …``: import the State Council's holiday notice, show a year, check coverage."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from portal import clock, workdays
from portal.db import Database
from portal.errors import GongzhiError
from portal.settings import get_settings
from portal.workdays import service
from portal.workdays.notice import MAX_NOTICE_CHARS
from portal.workdays.settings import CalendarSettings

NAME = "calendar"
app = typer.Typer(
    help="Holidays and make-up working days (国务院办公厅节假日安排通知).", no_args_is_help=True
)


def _fail(exc: GongzhiError) -> typer.Exit:
    typer.echo(f"错误 / error [{exc.code}]: {exc.detail_zh} / {exc.detail}", err=True)
    return typer.Exit(code=1)


def _print_days(days: service.YearDays) -> None:
    source = days.title if days.source == "notice" else "chinese-calendar（内置数据 / library）"
    typer.echo(f"{days.year}年 · {source}")
    make_up = {d.day for d in days.make_up_days}
    for named in sorted(days.holidays + days.make_up_days, key=lambda d: d.day):
        kind = "上班 working" if named.day in make_up else "放假 holiday"
        weekday = "一二三四五六日"[named.day.weekday()]
        typer.echo(f"{named.day.isoformat()} 周{weekday}  {kind}  {named.festival}")
    typer.echo(f"放假 {len(days.holidays)} 天 / 调休上班 {len(days.make_up_days)} 天")


@app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(help="The notice's text, UTF-8 (docs/calendar.md).", exists=True)
    ],
    year: Annotated[int | None, typer.Option(help="Only if the text has no title.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Show the days, store nothing.")] = False,
) -> None:
    """Import (or replace) a year's holidays from the State Council's notice."""
    if file.stat().st_size > 4 * MAX_NOTICE_CHARS:  # UTF-8: at most 4 bytes a character
        typer.echo(f"错误 / error: {file} is not a notice (too large)", err=True)
        raise typer.Exit(code=1)
    text = file.read_text(encoding="utf-8-sig")
    if dry_run:
        try:
            _print_days(service.preview(text, year=year))
        except GongzhiError as exc:
            raise _fail(exc) from exc
        return

    async def run() -> service.YearDays:
        database = Database.from_settings(get_settings())
        try:
            async with database.transaction() as session:
                row = await service.import_notice(session, text=text, year=year, actor=None)
                return await service.year_days(session, row.year)
        finally:
            await database.dispose()

    try:
        days = asyncio.run(run())
    except GongzhiError as exc:
        raise _fail(exc) from exc
    _print_days(days)
    typer.echo(f"已导入 / imported {days.year}")


@app.command("show")
def show(year: Annotated[int, typer.Argument(min=2000, max=2200)]) -> None:
    """The holidays and make-up working days of a year, and where they come from."""

    async def run() -> service.YearDays:
        database = Database.from_settings(get_settings())
        try:
            async with database.transaction() as session:
                return await service.year_days(session, year)
        finally:
            await database.dispose()

    try:
        _print_days(asyncio.run(run()))
    except GongzhiError as exc:
        raise _fail(exc) from exc


@app.command("remove")
def remove(year: Annotated[int, typer.Argument(min=2000, max=2200)]) -> None:
    """Remove a year's imported notice (the year falls back to chinese-calendar, or unknown)."""

    async def run() -> None:
        database = Database.from_settings(get_settings())
        try:
            async with database.transaction() as session:
                await service.remove_year(session, year=year, actor=None)
        finally:
            await database.dispose()

    try:
        asyncio.run(run())
    except GongzhiError as exc:
        raise _fail(exc) from exc
    typer.echo(f"已删除 / removed {year}")


@app.command("coverage")
def coverage() -> None:
    """The years deadlines may reach now; exits 1 if one has no holiday data (for monitoring)."""
    settings = get_settings()
    config = settings.of(CalendarSettings)
    database = Database.from_settings(settings)

    async def run() -> None:
        try:
            await service.refresh(database)
        finally:
            await database.dispose()

    asyncio.run(run())
    found = workdays.coverage(clock.today(), horizon_days=config.calendar_warning_horizon_days)
    names = {"notice": "已导入 notice", "library": "内置 library", None: "缺失 MISSING"}
    for y in found.years:
        typer.echo(f"{y.year}  {names[y.source]}  {y.title or ''}".rstrip())
    for warning in found.warnings:
        typer.echo(warning, err=True)
    if found.missing:
        raise typer.Exit(code=1)
