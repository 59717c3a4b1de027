"""What the public sees of a notice: whether it is on display, and the party's name as shown."""

from __future__ import annotations

import uuid
from datetime import date

from notices.models import EnforcementNotice, NoticeStatus, PartyKind
from portal import clock
from portal.privacy import public_owner_name


def today() -> date:
    """The calendar day in China: display periods end at local midnight."""
    return clock.today()


def notice_visible(notice: EnforcementNotice, on: date) -> bool:
    return (
        notice.status is NoticeStatus.published
        and notice.published_on <= on <= notice.display_until
    )


def public_party_name(notice: EnforcementNotice) -> str:
    """Enterprises are named; an individual is masked by the portal's one rule (张三 → 张*,
    欧阳建国华 → 欧阳***), whatever the length of the name: the notice says which it is."""
    return public_owner_name(
        notice.party_name, is_individual=notice.party_kind is PartyKind.individual
    )


def notice_url(notice_id: uuid.UUID | str) -> str:
    return f"/notices/{notice_id}"
