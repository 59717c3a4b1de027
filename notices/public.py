"""What the public sees of a notice: whether it is on display, and the party's name as shown."""

from __future__ import annotations

import uuid
from datetime import date

from notices.models import EnforcementNotice, NoticeStatus
from portal import clock


def today() -> date:
    """The calendar day in China: display periods end at local midnight."""
    return clock.today()


def notice_visible(notice: EnforcementNotice, on: date) -> bool:
    return (
        notice.status is NoticeStatus.published
        and notice.published_on <= on <= notice.display_until
    )


def public_party_name(notice: EnforcementNotice) -> str:
    """Enterprises are named; a private individual (no credit code) is masked: 张三 → 张某."""
    if notice.party_uscc or len(notice.party_name) > 4:
        return notice.party_name
    return notice.party_name[:1] + "某" * max(1, len(notice.party_name) - 1)


def notice_url(notice_id: uuid.UUID | str) -> str:
    return f"/notices/{notice_id}"
