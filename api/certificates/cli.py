"""``gongzhi certificates …``: bulk import, institution signing keys, the overdue scan."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer

from portal.db import Database
from portal.errors import GongzhiError
from portal.settings import get_settings

NAME = "certificates"
app = typer.Typer(
    help="Certificate registry: import, signing keys, overdue scan.", no_args_is_help=True
)


def _fail(exc: GongzhiError) -> typer.Exit:
    typer.echo(f"错误 / error [{exc.code}]: {exc.detail_zh} / {exc.detail}", err=True)
    for error in exc.errors or []:
        typer.echo(f"  {error}", err=True)
    return typer.Exit(code=1)


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, XLSX or JSONL")],
    institution: Annotated[str, typer.Option(help="Institution code, e.g. XYJC.")],
    show_errors: Annotated[int, typer.Option(help="Row errors to print.")] = 50,
) -> None:
    """Import certificates for an institution; prints the row report. Safe to run twice."""
    from api.certificates.errors import NotAnInstitution
    from api.certificates.imports import import_file
    from api.certificates.settings import CertificatesSettings
    from portal.accounts.service import get_organization_by_code

    settings = get_settings()

    async def run() -> None:
        database = Database.from_settings(settings)
        try:
            started = time.perf_counter()
            async with database.transaction() as session:
                org = await get_organization_by_code(session, institution)
                if org.kind != "institution":
                    raise NotAnInstitution(detail_zh=f"{org.name} 不是检定机构。")
                with file.open("rb") as stream:
                    report = await import_file(
                        session,
                        stream,
                        file.name,
                        institution=org,
                        actor=None,
                        settings=settings.of(CertificatesSettings),
                        bulk=True,
                    )
            elapsed = time.perf_counter() - started
        finally:
            await database.dispose()
        typer.echo(
            f"{report.total_rows} 行 / rows: 新增 created {report.created}, "
            f"未变化 unchanged {report.unchanged}, 有误 failed {report.failed} "
            f"({elapsed:.1f} s)"
        )
        for error in report.errors[:show_errors]:
            typer.echo(f"  行 line {error.line} [{error.column}] {error.code}: {error.reason_zh}")
        if len(report.errors) > show_errors:
            typer.echo(f"  … {len(report.errors) - show_errors} more")

    try:
        asyncio.run(run())
    except GongzhiError as exc:
        raise _fail(exc) from exc


@app.command("keygen")
def keygen(
    institution: Annotated[str, typer.Option(help="Institution code.")],
) -> None:
    """Create a new Ed25519 signing key for an institution (earlier keys stay in the trust list)."""
    from api.certificates.stickers import create_institution_key
    from portal.accounts.service import get_organization_by_code

    settings = get_settings()

    async def run() -> str:
        database = Database.from_settings(settings)
        try:
            async with database.transaction() as session:
                org = await get_organization_by_code(session, institution)
                key = await create_institution_key(session, org, settings=settings, actor=None)
                return key.kid
        finally:
            await database.dispose()

    try:
        typer.echo(asyncio.run(run()))
    except GongzhiError as exc:
        raise _fail(exc) from exc


@app.command("scan-overdue")
def scan_overdue() -> None:
    """Record overdue warnings now (the worker also runs this daily)."""
    from api.certificates.overdue import scan_overdue as scan
    from api.certificates.settings import CertificatesSettings

    settings = get_settings()

    async def run() -> int:
        database = Database.from_settings(settings)
        try:
            async with database.transaction() as session:
                return await scan(session, settings=settings.of(CertificatesSettings))
        finally:
            await database.dispose()

    typer.echo(f"新增预警 / new warnings: {asyncio.run(run())}")
