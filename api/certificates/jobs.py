"""Daily overdue scan (a periodic outbox job) and the notifications it queues.

The scan records one warning per (instrument, certificate, stage) and enqueues one
``certificates.notify`` event; the notifier sends a batch of unsent warnings, marks them sent in
the same transaction, and enqueues itself again while any remain. Both are idempotent: a second
scan finds nothing new, a re-run notifier finds nothing unsent.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.overdue import scan_overdue
from api.certificates.queries import categories, instruments, today_local, warnings
from api.certificates.settings import CertificatesSettings
from portal.db import utcnow
from portal.notify import Notification, load_notifier
from portal.outbox import service as outbox
from portal.outbox.service import JobContext
from portal.privacy import public_owner_name

NOTIFY_TOPIC = "certificates.notify"

STAGE_TEXT = {
    "expiring": "检定证书即将到期，请及时申请周期检定",
    "expired": "检定证书已过期或检定不合格，须经检定合格后方可使用",
    "unverified": "尚无检定记录，请申请强制检定",
}


@outbox.periodic("certificates-overdue-scan", every=timedelta(days=1))
async def overdue_scan(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    created = await scan_overdue(session, settings=context.settings.of(CertificatesSettings))
    if created:
        await outbox.enqueue(session, NOTIFY_TOPIC, {})


@outbox.handler(NOTIFY_TOPIC)
async def notify(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    await send_pending(session, settings=context.settings.of(CertificatesSettings))


def _stage_text(stage: str, valid_until: date | None, today: date) -> tuple[str, str]:
    """What the owner is told, and the validity shown after it. The "expired" stage also holds
    certificates revoked or failed within their validity: those do not say 已过期 beside a date
    still to come (the owner would think the warning wrong)."""
    until = f"（有效期至 {valid_until.isoformat()}）" if valid_until else ""
    if stage == "expired" and valid_until is not None:
        if valid_until < today:
            return "检定证书已过期，须经检定合格后方可使用", until
        return "检定证书已注销或检定不合格，须经检定合格后方可使用", ""
    return STAGE_TEXT[stage], until


async def send_pending(session: AsyncSession, *, settings: CertificatesSettings) -> int:
    """Send one batch of unsent warnings; queue the next batch if more remain."""
    rows = (
        await session.execute(
            select(
                warnings.c.id,
                warnings.c.stage,
                warnings.c.region_code,
                warnings.c.valid_until,
                instruments.c.owner_name,
                instruments.c.owner_type,
                instruments.c.owner_uscc,
                instruments.c.serial,
                instruments.c.address,
                categories.c.name,
            )
            .select_from(
                warnings.join(instruments, instruments.c.id == warnings.c.instrument_id).join(
                    categories, categories.c.code == instruments.c.category_code
                )
            )
            .where(warnings.c.notified_at.is_(None))
            .order_by(warnings.c.created_at, warnings.c.id)
            .limit(settings.overdue_notification_batch + 1)
        )
    ).all()
    more = len(rows) > settings.overdue_notification_batch
    rows = rows[: settings.overdue_notification_batch]
    if not rows:
        return 0
    sender = load_notifier(settings.overdue_notification_sender, settings)
    per_region: Counter[tuple[str, str]] = Counter()
    today = today_local()
    for row in rows:
        stage_text, until = _stage_text(row.stage, row.valid_until, today)
        # An individual owner's name and address are personal data: the notification (and the
        # log line the default sender writes) shows what the public sees (portal/privacy.py).
        individual = row.owner_type == "individual"
        name = public_owner_name(row.owner_name, is_individual=individual)
        place = row.region_code if individual else (row.address or row.region_code)
        await sender.send(
            Notification(
                recipient_kind="owner",
                recipient=name if individual else (row.owner_uscc or row.owner_name),
                subject=f"计量器具检定提醒：{row.name} {row.serial}",
                body=f"{name}：您在 {place} 使用的"
                f"{row.name}（出厂编号 {row.serial}）{stage_text}{until}。",
                reference=str(row.id),
            )
        )
        per_region[(row.region_code, row.stage)] += 1
    for region in sorted({region for region, _ in per_region}):
        counts = {stage: n for (r, stage), n in per_region.items() if r == region}
        await sender.send(
            Notification(
                recipient_kind="regulator",
                recipient=region,
                subject=f"辖区计量器具逾期预警 {today.isoformat()}",
                body="新增预警："
                + "，".join(
                    f"{STAGE_TEXT[s].split('，')[0]} {n} 台" for s, n in sorted(counts.items())
                )
                + "。详见监管后台逾期器具清单。",
                reference=f"{region}:{today.isoformat()}:{rows[0].id}",
            )
        )
    await session.execute(
        update(warnings)
        .where(warnings.c.id.in_([row.id for row in rows]))
        .values(notified_at=utcnow())
    )
    if more:
        await outbox.enqueue(session, NOTIFY_TOPIC, {})
    return len(rows)
