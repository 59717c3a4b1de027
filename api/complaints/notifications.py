"""Messages to complainants and reporters about their case, sent through the outbox and the
portal's one notifier interface (portal/notify.py, gateway chosen by GONGZHI_NOTIFY_SENDER)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints.models import Case, CaseEvent, CaseKind, CaseParty
from api.complaints.settings import ComplaintsSettings
from api.complaints.vocabulary import EVENT_TITLES
from portal.db import utcnow
from portal.notify import Notification, load_notifier
from portal.outbox.service import enqueue
from portal.settings import Settings

TOPIC = "complaints.notify"


async def notify_submitter(session: AsyncSession, case: Case, event: CaseEvent) -> None:
    """Queue a message about a public event, in the same transaction as the event."""
    await enqueue(
        session,
        TOPIC,
        {"case_id": str(case.id), "event_id": str(event.id)},
        dedupe_key=f"{TOPIC}:{event.id}",
    )


def notification_text(case: Case, event: CaseEvent) -> str:
    title = EVENT_TITLES.get(event.type, event.type)
    kind = "投诉" if case.kind is CaseKind.complaint else "举报"
    text_ = f"【共治】您的{kind}（{case.tracking_number}）{title}"
    if event.type == "submitted" and case.acceptance_due:
        text_ += f"，受理决定期限 {case.acceptance_due.isoformat()}"
    if event.body:
        text_ += f"：{event.body[:120]}"
    return text_ + "。"


async def send_notification(
    session: AsyncSession, payload: dict[str, Any], *, settings: Settings
) -> None:
    """Send one queued message, once: an event already notified is skipped."""
    event = await session.get(CaseEvent, uuid.UUID(payload["event_id"]))
    case = await session.get(Case, uuid.UUID(payload["case_id"]))
    if event is None or case is None or event.notified_at is not None:
        return
    party = await session.scalar(select(CaseParty).where(col(CaseParty.case_id) == case.id))
    if party is not None and party.phone:
        notifier = load_notifier(settings.of(ComplaintsSettings).notify_sender, settings)
        await notifier.send(
            Notification(
                recipient_kind="phone",
                recipient=party.phone,
                subject=f"{case.tracking_number} {EVENT_TITLES.get(event.type, event.type)}",
                body=notification_text(case, event),
                reference=str(event.id),
            )
        )
    event.notified_at = utcnow()
    await session.flush()
