"""``gongzhi search reindex`` and ``gongzhi documents import FILE --kind …``."""

from __future__ import annotations

import asyncio
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from portal.db import Database
from portal.settings import get_settings

NAME = "search"
app = typer.Typer(help="The search index.", no_args_is_help=True)
documents_app = typer.Typer(
    help="Articles, enforcement notices and regulations.", no_args_is_help=True
)
EXTRA_GROUPS = {"documents": documents_app}


class DocumentKind(StrEnum):
    article = "article"
    notice = "notice"
    regulation = "regulation"


@app.command("reindex")
def reindex() -> None:
    """Rebuild the search index from the database (searches keep working meanwhile)."""
    from search import engine as engines
    from search.documents import all_public_documents
    from search.settings import SearchSettings

    settings = get_settings()

    async def run() -> int:
        database = Database.from_settings(settings)
        engine = engines.build(settings)
        try:
            await engine.setup()
            async with database.sessionmaker() as session:
                return await engine.replace_all(all_public_documents(session))
        finally:
            await engine.close()
            await database.dispose()

    started = time.perf_counter()
    count = _run(run())
    typer.echo(
        f"索引已重建 / index rebuilt: {count} documents in {time.perf_counter() - started:.1f} s"
        f" ({settings.of(SearchSettings).search_backend})"
    )


@app.command("status")
def status() -> None:
    """The engine's health and document count."""
    from search import engine as engines

    async def run() -> dict[str, object]:
        engine = engines.build(get_settings())
        try:
            return await engine.health()
        finally:
            await engine.close()

    typer.echo(_run(run()))


@documents_app.command("import")
def import_documents(
    file: Annotated[Path, typer.Argument(help="JSON Lines, optionally gzipped.", exists=True)],
    kind: Annotated[DocumentKind, typer.Option(help="article, notice or regulation")],
) -> None:
    """Import documents; all or nothing. The index follows through the outbox worker."""
    from portal import facts
    from portal.jsonlines import ImportReport, read_jsonl
    from search import service

    settings = get_settings()

    async def run() -> ImportReport:
        database = Database.from_settings(settings)
        try:
            async with database.transaction() as session:
                rows = read_jsonl(file)
                if kind is DocumentKind.regulation:
                    return await service.import_regulations(session, rows)
                if kind is DocumentKind.article:
                    return await service.import_articles(session, rows)
                # Notices are their own domain (notices/); the import command stays one for all.
                report = await facts.import_documents(
                    session, kind=kind.value, rows=rows, settings=settings
                )
                if report is None:
                    raise typer.BadParameter(f"no domain imports {kind.value}")
                return report
        finally:
            await database.dispose()

    report = _run(run())
    typer.echo(
        f"已导入 / imported {report.kind}: {report.created} created, {report.updated} updated"
    )


def _run(coro):  # type: ignore[no-untyped-def]
    from portal.errors import GongzhiError

    try:
        return asyncio.run(coro)
    except GongzhiError as exc:
        typer.echo(f"错误 / error [{exc.code}]: {exc.detail_zh} / {exc.detail}", err=True)
        raise typer.Exit(code=1) from exc
