"""What invalidates the cached answers (portal/cache.py, portal/db.py): a committed transaction
that wrote public data moves the cache's generation; bookkeeping writes (the outbox a worker
updates every second), a filed complaint, a rollback and a savepoint rolled back alone do not."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from api.certificates.import_rows import CertRow, validate_row
from api.certificates.registry import validation_context
from api.certificates.settings import CertificatesSettings
from api.certificates.store import store_rows
from portal.accounts.models import Organization
from portal.cache import LocalCache
from portal.db import Database
from portal.outbox import service as outbox
from portal.settings import Settings
from tests.api.certificates.support import cert_body
from tests.api.complaints.support import report_body
from tests.support import MakeOrg


async def test_only_a_committed_write_to_public_data_moves_the_generation(
    database: Database, make_org: MakeOrg
) -> None:
    cache = database.cache
    assert isinstance(cache, LocalCache)  # tests run embedded: no Redis needed
    start = cache.generation

    async with database.transaction() as session:
        await outbox.enqueue(session, "test.cache", {})
    assert cache.generation == start  # bookkeeping only

    org = await make_org()  # an ORM insert
    assert cache.generation == start + 1

    async def rename_then_fail() -> None:
        async with database.transaction() as session:
            await session.execute(
                update(Organization).where(col(Organization.id) == org.id).values(name="改名")
            )
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await rename_then_fail()
    assert cache.generation == start + 1

    async with database.transaction() as session:  # a Core UPDATE through the session
        await session.execute(
            update(Organization).where(col(Organization.id) == org.id).values(name="新名称")
        )
    assert cache.generation == start + 2

    async with database.transaction() as session:  # written, then a savepoint rolled back
        await session.execute(
            update(Organization).where(col(Organization.id) == org.id).values(name="再改")
        )
        nested = await session.begin_nested()
        await nested.rollback()
    assert cache.generation == start + 3


async def test_a_filed_complaint_keeps_the_cached_public_answers(
    client: httpx.AsyncClient, database: Database, make_org: MakeOrg
) -> None:
    """Citizens file complaints all day; none of it is on a public page, so a filing must not
    empty every cached sticker and credit page (it did, several times a second under load)."""
    cache = database.cache
    assert isinstance(cache, LocalCache)
    await make_org()
    start = cache.generation
    filed = await client.post(
        "/api/v1/cases", json=report_body(), headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert filed.status_code == 201, filed.text
    assert cache.generation == start
    await make_org()  # public data still invalidates
    assert cache.generation == start + 1


async def test_a_bulk_import_on_the_driver_moves_the_generation(
    database: Database, make_org: MakeOrg, settings: Settings
) -> None:
    """The certificate import writes its instruments and certificates on the driver
    (executemany / COPY, api/certificates/store.py bulk_insert), past the session's listeners:
    an import of new instruments only must still invalidate, or a sticker scanned (404) just
    before its import stays 'not found' in every node's cache."""
    cache = database.cache
    assert isinstance(cache, LocalCache)
    institution = await make_org()
    start = cache.generation
    async with database.transaction() as session:
        ctx = await validation_context(session, settings.of(CertificatesSettings))
        row = validate_row(cert_body(number="BULK-1"), ctx)
        assert isinstance(row, CertRow)
        stored = await store_rows(
            session, institution_id=institution.id, rows=[(1, row)], actor_id=None, scope=None
        )
        assert [line for line, _ in stored.created] == [1]
    assert cache.generation == start + 1
