"""Credit facts from concluded cases; orphaned photos cleaned (local disk and S3); masking
helpers."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from sqlmodel import select

from api.complaints.media import cleanup_orphan_media
from api.complaints.models import Case, CaseStatus, Finding, Media
from api.complaints.schemas import STAFF_ACTIONS, CaseAccept, CaseReopen
from api.complaints.settings import ComplaintsSettings
from api.complaints.storage import get_storage
from api.complaints.workflow import apply_action
from portal import clock, facts
from portal.accounts.models import Role
from portal.db import Database
from portal.privacy import mask_person_name, mask_phone
from portal.settings import Settings
from tests.api.complaints import images
from tests.api.complaints.support import complaint_body, report_body

USCC = "91610402MA6X8Y2K70"


async def test_substantiated_cases_become_complaint_facts(
    client: httpx.AsyncClient, database: Database, settings: Settings, make_user
) -> None:
    regulator = await make_user(Role.regulator, region="610400")
    numbers = []
    for finding in ("substantiated", "not_substantiated", "partly_substantiated", None):
        created = await client.post("/api/v1/cases", json=complaint_body())
        numbers.append(created.json()["tracking_number"])
        async with database.transaction() as session:
            case = await session.scalar(select(Case).where(Case.tracking_number == numbers[-1]))
            assert case is not None
            await apply_action(
                session, case.id, CaseAccept(action="accept"), settings=settings, actor=regulator
            )
            if finding:
                await apply_action(
                    session,
                    case.id,
                    STAFF_ACTIONS.validate_python(
                        {"action": "conclude", "finding": finding, "body": "结论"}
                    ),
                    settings=settings,
                    actor=regulator,
                )
    since = clock.now() - timedelta(days=1)
    async with database.transaction() as session:
        found = await facts.complaint_facts(session, since=since, usccs=[USCC.lower()])
        assert [(f.tracking_number, f.business_uscc, f.category) for f in found] == [
            (numbers[0], USCC, "short_weight")
        ]
        assert await facts.complaint_facts(session, since=since, usccs=["91350100M000100Y43"]) == []
        assert await facts.complaint_facts(session, since=clock.now() + timedelta(hours=1)) == []
        case = await session.scalar(select(Case).where(Case.tracking_number == numbers[0]))
        assert case is not None
        await apply_action(
            session,
            case.id,
            CaseReopen(action="reopen", body="复核"),
            settings=settings,
            actor=regulator,
        )
        assert await facts.complaint_facts(session, since=since) == []


async def test_a_complaint_that_is_also_a_report_is_one_fact(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Issue 16: a submission that is both a complaint and a report becomes two linked cases;
    when both are concluded as substantiated the enterprise has one fact against it, not two."""
    created = await client.post("/api/v1/cases", json=complaint_body(kind="both"))
    assert created.status_code == 201, created.text
    concluded_at = clock.now()
    async with database.transaction() as session:
        cases = list(await session.scalars(select(Case).where(Case.business_uscc == USCC)))
        assert len(cases) == 2
        assert {c.linked_case_id for c in cases} == {c.id for c in cases}
        for offset, case in enumerate(cases):
            case.status = CaseStatus.concluded
            case.finding = Finding.substantiated
            case.concluded_at = concluded_at + timedelta(minutes=offset)
    async with database.transaction() as session:
        found = await facts.complaint_facts(session, since=concluded_at - timedelta(days=1))
    assert [f.case_id for f in found] == [cases[0].id]


@pytest.mark.usefixtures("photo_storage")
async def test_orphaned_photos_and_stray_files_are_cleaned(
    client: httpx.AsyncClient, upload, database: Database, settings: Settings
) -> None:
    """On the local disk and on the S3 server (tests/objectstore.py)."""

    async def sweep(now: datetime) -> dict[str, int]:
        async with database.transaction() as session:
            return await cleanup_orphan_media(session, settings=settings, now=now)

    # Files earlier tests left on the session's disk lost their rows with the tables: strays,
    # swept first so that the counts below are this test's own.
    await sweep(clock.now() + timedelta(hours=2))
    kept = (await upload(images.jpeg(gps=False))).json()["id"]
    orphan = (await upload(images.jpeg(gps=False))).json()["id"]
    await client.post("/api/v1/cases", json=report_body(media=[kept]))
    storage = get_storage(settings)
    stray = "display/ff/ffffffff-0000-4000-8000-000000000000.jpg"
    await storage.save_bytes(stray, b"left by an upload whose transaction did not commit")

    # Minutes old, the stray may still be an upload in its transaction: kept.
    assert await sweep(clock.now()) == {"orphans": 0, "stray_files": 0}
    assert await storage.exists(stray)
    # Two hours on it is a stray; the orphan is still young.
    assert await sweep(clock.now() + timedelta(hours=2)) == {"orphans": 0, "stray_files": 1}
    assert not await storage.exists(stray)

    later = clock.now() + timedelta(hours=settings.of(ComplaintsSettings).media_orphan_hours + 1)
    async with database.transaction() as session:
        result = await cleanup_orphan_media(session, settings=settings, now=later)
        assert result["orphans"] == 1
        remaining = {str(m) for m in (await session.scalars(select(Media.id))).all()}
    assert remaining == {kept}
    assert orphan not in remaining
    names = {key.rsplit("/", 1)[-1].split(".")[0] for key in await storage.keys_older_than(later)}
    assert names == {kept}


def test_masking() -> None:
    assert mask_person_name("张三") == "张*"
    assert mask_person_name("欧阳娜娜") == "欧阳**"  # compound family name kept
    assert mask_person_name("") == ""
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("029-88886666") == "029****6666"
