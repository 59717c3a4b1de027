"""The regulator's overdue list (region rules, CSV) and the idempotent daily warning job."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api.certificates import jobs
from api.certificates.models import OverdueWarning
from api.certificates.overdue import scan_overdue
from api.certificates.settings import CertificatesSettings
from portal import notify
from portal.accounts.models import Role, User
from portal.db import Database
from portal.outbox.models import OutboxEvent
from portal.outbox.service import JobContext
from portal.settings import Settings
from tests.api.certificates.support import Issue, days
from tests.support import assert_problem


async def _seed(issue: Issue) -> None:
    await issue(number="D-VALID", serial="OK-1", valid_until=days(200))
    await issue(number="D-SOON", serial="SOON-1", valid_until=days(10))
    await issue(number="D-LATE", serial="LATE-1", verified_on=days(-300), valid_until=days(-30))
    await issue(number="D-FAIL", serial="FAIL-1", conclusion="不合格", valid_until=None)
    await issue(number="D-YANGLING", serial="YL-1", region_code="610403", valid_until=days(-3))
    await issue(number="D-XIAN", serial="XA-1", region_code="610113", valid_until=days(-3))


async def test_overdue_list_region_rules_and_csv(
    client: httpx.AsyncClient,
    issue: Issue,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    await _seed(issue)
    city = await auth_headers(await make_user(Role.regulator, region="610400"))
    listing = (await client.get("/api/v1/instruments/overdue", headers=city)).json()
    assert listing["region"] == "610400"
    by_serial = {i["serial"]: i for i in listing["items"]}
    assert set(by_serial) == {"SOON-1", "LATE-1", "FAIL-1", "YL-1"}
    assert by_serial["LATE-1"]["days_overdue"] == 30
    assert by_serial["SOON-1"]["days_overdue"] == -10
    assert by_serial["FAIL-1"]["status"] == "failed"
    narrow = (
        await client.get("/api/v1/instruments/overdue", params={"within_days": 5}, headers=city)
    ).json()
    assert "SOON-1" not in {i["serial"] for i in narrow["items"]}

    district = await auth_headers(await make_user(Role.regulator, region="610403"))
    own = (await client.get("/api/v1/instruments/overdue", headers=district)).json()
    assert [i["serial"] for i in own["items"]] == ["YL-1"]
    assert_problem(
        await client.get(
            "/api/v1/instruments/overdue", params={"region": "610400"}, headers=district
        ),
        403,
        "region_forbidden",
    )
    institution = await auth_headers(await make_user(Role.institution))
    assert_problem(await client.get("/api/v1/instruments/overdue", headers=institution), 403)
    assert_problem(await client.get("/api/v1/instruments/overdue"), 401)

    exported = await client.get(
        "/api/v1/instruments/overdue.csv", params={"region": "610400"}, headers=city
    )
    assert exported.status_code == 200
    assert exported.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][0] == "出厂编号"
    assert sorted(r[0] for r in rows[1:]) == ["FAIL-1", "LATE-1", "SOON-1", "YL-1"]


class RecordingSender:
    sent: list[notify.Notification] = []

    def __init__(self, settings: Any) -> None:
        pass

    async def send(self, notification: notify.Notification) -> None:
        RecordingSender.sent.append(notification)


async def _owners_told(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> dict[str, notify.Notification]:
    """Scan, send every warning through RecordingSender; the owners' notifications by serial."""
    async with database.transaction() as session:
        await scan_overdue(session, settings=settings.of(CertificatesSettings))
    RecordingSender.sent = []
    config = settings.of(CertificatesSettings)
    monkeypatch.setattr(config, "overdue_notification_sender", f"{__name__}:RecordingSender")
    async with database.transaction() as session:
        await jobs.send_pending(session, settings=config)
    return {
        n.subject.rsplit(" ", 1)[1]: n for n in RecordingSender.sent if n.recipient_kind == "owner"
    }


async def test_daily_scan_is_idempotent_and_notifies_once(
    client: httpx.AsyncClient,
    issue: Issue,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _seed(issue)
    async with database.transaction() as session:
        await jobs.overdue_scan(session, {}, JobContext(settings=settings, state=None))
    async with database.transaction() as session:
        await jobs.overdue_scan(session, {}, JobContext(settings=settings, state=None))
        assert await scan_overdue(session, settings=settings.of(CertificatesSettings)) == 0
    async with database.sessionmaker() as session:
        warnings = (await session.scalars(select(OverdueWarning))).all()
        queued = await session.scalar(
            select(func.count()).where(OutboxEvent.topic == jobs.NOTIFY_TOPIC)
        )
    stages = sorted((w.region_code, w.stage) for w in warnings)
    assert stages == [
        ("610113", "expired"),
        ("610402", "expired"),
        ("610402", "expired"),
        ("610402", "expiring"),
        ("610403", "expired"),
    ]
    assert queued == 1  # the second scan found nothing new, so queued nothing

    RecordingSender.sent = []
    config = settings.of(CertificatesSettings)
    monkeypatch.setattr(config, "overdue_notification_sender", f"{__name__}:RecordingSender")
    monkeypatch.setattr(config, "overdue_notification_batch", 3)
    recording = JobContext(settings=settings, state=None)
    async with database.transaction() as session:
        await jobs.notify(session, {}, recording)
    async with database.transaction() as session:
        await jobs.notify(session, {}, recording)
    async with database.transaction() as session:
        assert await jobs.send_pending(session, settings=config) == 0
    owners = [n for n in RecordingSender.sent if n.recipient_kind == "owner"]
    regulators = {n.recipient for n in RecordingSender.sent if n.recipient_kind == "regulator"}
    assert len(owners) == 5  # each warning once, over two batches
    assert len({n.reference for n in owners}) == 5
    assert regulators == {"610113", "610402", "610403"}


def test_logging_sender_is_the_default(settings: Settings) -> None:
    config = settings.of(CertificatesSettings)
    notifier = notify.load_notifier(config.overdue_notification_sender, config)
    assert isinstance(notifier, notify.LoggingNotifier)


async def test_an_individual_owners_warning_carries_no_personal_data(
    issue: Issue,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An individual owner's name and address are personal data (portal/privacy.py): the
    warning shows the masked name and the region, as the public sees them, so neither a gateway's
    log nor the default logging sender keeps them; an enterprise is named with its address."""
    await issue(
        number="D-PERSON",
        serial="PERSON-1",
        owner_name="欧阳建国",
        owner_uscc=None,
        address="人民路12号院3单元",
        valid_until=days(-5),
        verified_on=days(-200),
    )
    await issue(number="D-FIRM", serial="FIRM-1", address="人民路农贸市场", valid_until=days(-5))
    owners = await _owners_told(database, settings, monkeypatch)
    person, firm = owners["PERSON-1"], owners["FIRM-1"]
    for shown in (person.recipient, person.body):
        assert "欧阳建国" not in shown and "人民路12号院" not in shown  # noqa: PT018
    assert person.body.startswith("欧阳**：您在 610402 使用的")
    assert "人民路农贸市场" in firm.body


async def test_a_revoked_certificates_warning_does_not_say_expired(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A certificate revoked within its validity is in the "expired" stage of the warnings, but
    its owner is told it was revoked or failed, not that it expired on a date still to come."""
    await issue(number="D-REVOKED", serial="REV-1", valid_until=days(200))
    await issue(number="D-OLD", serial="OLD-1", verified_on=days(-300), valid_until=days(-30))
    revoked = await client.post(
        "/api/v1/certificates/D-REVOKED/revoke",
        json={"reason": "误发"},
        headers=await auth_headers(institution_user),
    )
    assert revoked.status_code == 200, revoked.text
    owners = await _owners_told(database, settings, monkeypatch)
    assert "已注销或检定不合格" in owners["REV-1"].body
    assert "已过期" not in owners["REV-1"].body
    assert "有效期至" not in owners["REV-1"].body
    assert f"已过期，须经检定合格后方可使用（有效期至 {days(-30)}）" in owners["OLD-1"].body
