"""Reminders to owners before a registered instrument falls due, through the notification
interface (portal/notify.py). Instruments with a certificate in the registry are reminded by the
registry's own overdue warnings (api/certificates/jobs.py); these are the others: never verified
and put in use soon, or verified on paper with the cycle ending. Each due day is reminded once.

And, each day, the bureau of each region is told how many registrations awaiting its
confirmation have fallen due: they are not in the registry yet, so the registry's daily overdue
warnings cannot name them, and an instrument must not go overdue unseen because its registration
was never looked at."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.instruments.models import RegisteredInstrument, RegistrationStatus
from api.instruments.review import FIRST_ONLY_FORMS
from api.instruments.settings import InstrumentsSettings
from portal.accounts.models import Organization
from portal.notify import Notification, load_notifier


async def send_reminders(
    session: AsyncSession, *, settings: InstrumentsSettings, today: date
) -> int:
    """Remind one batch; the periodic job runs again for the rest."""
    horizon = today + timedelta(days=settings.registration_reminder_days)
    rows = (
        await session.execute(
            select(RegisteredInstrument, Organization)
            .join(Organization, col(Organization.id) == col(RegisteredInstrument.owner_id))
            .where(
                col(RegisteredInstrument.status).in_(
                    [RegistrationStatus.pending, RegistrationStatus.confirmed]
                ),
                col(RegisteredInstrument.registry_instrument_id).is_(None),
                col(RegisteredInstrument.due_on) <= horizon,
                col(RegisteredInstrument.due_on) >= today,
                (col(RegisteredInstrument.reminded_for).is_(None))
                | (col(RegisteredInstrument.reminded_for) != col(RegisteredInstrument.due_on)),
            )
            .order_by(col(RegisteredInstrument.due_on), col(RegisteredInstrument.id))
            .limit(settings.registration_reminder_batch)
        )
    ).all()
    if not rows:
        return 0
    sender = load_notifier(settings.registration_reminder_sender, settings)
    for registration, owner in rows:
        assert registration.due_on is not None
        if registration.last_verified_on is None:
            what = "尚未检定，须在启用前申请首次检定"
        elif registration.verification_form in FIRST_ONLY_FORMS:
            what = "使用期限将到，须到期更换"
        else:
            what = "检定周期将到，须申请周期检定"
        await sender.send(
            Notification(
                recipient_kind="owner",
                recipient=owner.uscc or owner.code,
                subject=f"计量器具检定提醒：出厂编号 {registration.serial}",
                body=f"{owner.name}：{registration.location or '贵单位'}的器具（出厂编号 "
                f"{registration.serial}）{what}，应检日期 {registration.due_on.isoformat()}。",
                reference=f"registration:{registration.id}:{registration.due_on.isoformat()}",
            )
        )
        registration.reminded_for = registration.due_on
    await session.flush()
    return len(rows)


async def send_unconfirmed_due_digest(
    session: AsyncSession, *, settings: InstrumentsSettings, today: date
) -> int:
    """One notification per region with registrations awaiting confirmation that are due
    (the overdue list shows them, marked 待确认); the number of regions told."""
    r = RegisteredInstrument
    rows = (
        await session.execute(
            select(col(r.region_code), func.count(), func.min(col(r.due_on)))
            .where(
                col(r.status) == RegistrationStatus.pending,
                col(r.registry_instrument_id).is_(None),
                col(r.due_on).is_not(None),
                col(r.due_on) <= today,
            )
            .group_by(col(r.region_code))
            .order_by(col(r.region_code))
        )
    ).all()
    if not rows:
        return 0
    sender = load_notifier(settings.registration_reminder_sender, settings)
    for region, count, oldest in rows:
        await sender.send(
            Notification(
                recipient_kind="regulator",
                recipient=region,
                subject=f"辖区待确认登记到期提醒 {today.isoformat()}",
                body=f"辖区内有 {count} 台已登记、尚待确认的计量器具已到应检日期（最早 "
                f"{oldest.isoformat()}），未经确认不会进入器具台账。请在监管后台“强检器具登记审核”中"
                "确认或退回，并督促使用单位申请检定。详见逾期器具清单中标注“待确认”的器具。",
                reference=f"unconfirmed-due:{region}:{today.isoformat()}",
            )
        )
    return len(rows)
