"""Importing a CSV/XLSX/JSON Lines file of certificates (files are read by import_files.py,
rows validated by import_rows.py).

Reading and validating happen in a worker thread, a batch at a time (``anyio.to_thread``): a big
or hostile file never holds the event loop, so /healthz and every other request keep answering
while an import runs. The limits of import_limits.ImportLimits refuse an oversized file early.
The command line's bulk import reads them in a forked child instead (import_worker.py).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager, nullcontext
from typing import IO

import anyio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.import_columns import COLUMN_NAMES_ZH, Row
from api.certificates.import_files import read_rows
from api.certificates.import_rows import CertRow, FieldError, ValidationContext, validate_row
from api.certificates.import_worker import Batch, forked_batches
from api.certificates.registry import (
    numbers_used_elsewhere,
    record_identity_changes,
    validation_context,
)
from api.certificates.schemas import ImportReport, RowError
from api.certificates.scope import load_scope
from api.certificates.settings import CertificatesSettings
from api.certificates.store import store_rows
from portal import domains
from portal.accounts.models import Organization, User
from portal.audit import service as audit


def next_batch(
    rows: Iterator[tuple[int, Row]], ctx: ValidationContext, size: int
) -> list[tuple[int, CertRow | list[FieldError]]]:
    batch: list[tuple[int, CertRow | list[FieldError]]] = []
    for line, raw in rows:
        batch.append((line, validate_row(raw, ctx)))
        if len(batch) >= size:
            break
    return batch


async def _threaded_batches(
    stream: IO[bytes],
    filename: str,
    settings: CertificatesSettings,
    ctx: ValidationContext,
    headers: dict[str, str],
) -> AsyncGenerator[Batch, None]:
    rows = read_rows(stream, filename, settings.import_limits(), headers)
    while True:
        batch = await anyio.to_thread.run_sync(
            next_batch, rows, ctx, settings.certificate_import_batch_size
        )
        if not batch:
            return
        yield batch


def _is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


async def import_file(
    session: AsyncSession,
    stream: IO[bytes],
    filename: str,
    *,
    institution: Organization,
    actor: User | None,
    settings: CertificatesSettings,
    bulk: bool = False,
) -> ImportReport:
    """Import a file in batches. Valid rows are stored, every invalid row is reported with its
    line, column and reason; rows already stored are counted as unchanged.

    ``bulk`` is for a process that runs this import and nothing else (``gongzhi certificates
    import``): on SQLite the file is read and validated in a forked child (import_worker.py),
    and the cyclic garbage collector is paused for the import's duration. An import allocates
    millions of objects that live for a batch and form no cycles, and each of the collector's
    passes walked every object still alive (the batch, the process's modules): about a fifth of
    the import's time. Not for a serving process: paused there, it would stay paused across every
    other request the event loop runs meanwhile."""
    with _collector_paused() if bulk else nullcontext():
        return await _import_file(
            session,
            stream,
            filename,
            institution=institution,
            actor=actor,
            settings=settings,
            bulk=bulk,
        )


@contextmanager
def _collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def _import_file(
    session: AsyncSession,
    stream: IO[bytes],
    filename: str,
    *,
    institution: Organization,
    actor: User | None,
    settings: CertificatesSettings,
    bulk: bool,
) -> ImportReport:
    ctx = await validation_context(session, settings)
    scope = await load_scope(session, institution.id, required=settings.require_institution_scope)
    errors: list[RowError] = []
    headers: dict[str, str] = {}  # column → its header in the file, filled as the file is read
    total = created = unchanged = failed = held = batches = 0
    truncated = False

    def add_error(line: int, column: str, code: str, reason: str, reason_zh: str) -> None:
        nonlocal truncated
        if len(errors) < settings.certificate_import_max_errors:
            errors.append(
                RowError(
                    line=line,
                    column=column,
                    header=headers.get(column) or COLUMN_NAMES_ZH.get(column, column),
                    code=code,
                    reason=reason,
                    reason_zh=reason_zh,
                )
            )
        else:
            truncated = True

    async def store(batch: list[tuple[int, CertRow]]) -> None:
        nonlocal created, unchanged, failed, held, batches
        batches += 1
        if batches % 10 == 0 and not _is_sqlite(session):
            # The tables grow inside this one transaction; fresh statistics keep PostgreSQL on
            # index lookups for the per-batch queries instead of scans of the growing tables.
            await session.execute(text("ANALYZE instrument, certificate"))
        elsewhere = await numbers_used_elsewhere(
            session, list({row.number for _, row in batch}), institution.id
        )
        for line, row in batch:
            if row.number in elsewhere:
                failed += 1
                add_error(
                    line,
                    "number",
                    "number_in_use",
                    f"number {row.number} is already used by another institution",
                    f"证书编号 {row.number} 已由其他检定机构使用",
                )
        batch = [(line, row) for line, row in batch if row.number not in elsewhere]
        stored = await store_rows(
            session,
            institution_id=institution.id,
            rows=batch,
            actor_id=actor.id if actor is not None else None,
            scope=scope,
        )
        failed += len(stored.out_of_scope)
        for line, problem in stored.out_of_scope:
            add_error(line, problem.column, problem.code, problem.reason, problem.reason_zh)
        held += len(stored.held)
        await record_identity_changes(session, stored, actor=actor, institution=institution)
        created += len(stored.created)
        unchanged += len(stored.unchanged)
        failed += len(stored.conflicts)
        for line, number in stored.conflicts:
            add_error(
                line,
                "number",
                "number_taken",
                f"number {number} was already issued with different content; issue a correction",
                f"证书编号 {number} 已用于其他内容，如需更正请出具更正证书",
            )

    if _is_sqlite(session):
        # The import grows several index B-trees at random places (uuid keys): give SQLite a
        # page cache that holds them (the default is 2 MB); restored below.
        await session.execute(text("PRAGMA cache_size=-65536"))
    if bulk and _is_sqlite(session):
        # On SQLite the importing process does the database's work itself; on PostgreSQL the
        # server does, and on two cores a reader process would take its CPU away.
        reader = forked_batches(
            stream,
            filename,
            settings.import_limits(),
            ctx,
            settings.certificate_import_batch_size,
            headers,
        )
        # While the child reads the first batches: the modules of every domain's facts, which
        # store_rows asks for registrations (facts.registered_claims). A command's process
        # imports them on first use, a fifth of a 100,000-row import's time in its profile;
        # a serving process has them from its start.
        for _ in domains.modules("facts"):
            pass
    else:
        reader = _threaded_batches(stream, filename, settings, ctx, headers)
    try:
        async for parsed in reader:
            valid: list[tuple[int, CertRow]] = []
            for line, validated in parsed:
                total += 1
                if isinstance(validated, CertRow):
                    valid.append((line, validated))
                    continue
                failed += 1
                for e in validated:
                    add_error(line, e.column, e.code, e.reason, e.reason_zh)
            if valid:
                await store(valid)
    finally:
        await reader.aclose()
        if _is_sqlite(session):
            await session.execute(text("PRAGMA cache_size=-2000"))
    errors.sort(key=lambda e: e.line)
    report = ImportReport(
        institution=institution.code,
        total_rows=total,
        created=created,
        unchanged=unchanged,
        failed=failed,
        held=held,
        errors=errors,
        errors_truncated=truncated,
    )
    await audit.record(
        session,
        actor=actor,
        action="certificate.import",
        entity_type="organization",
        entity_id=institution.id,
        region_code=institution.region_code,
        after={
            "file": filename[:200],
            "total_rows": total,
            "created": created,
            "unchanged": unchanged,
            "failed": failed,
            "held": held,
        },
    )
    return report
