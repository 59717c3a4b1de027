"""What the public sees of a notice: whether it is on display, and the party's name as shown."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from notices.models import EnforcementNotice, NoticeStatus, PartyKind
from portal import clock
from portal.facts import records_listing
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


def public_text(notice: EnforcementNotice, text: str) -> str:
    """A field of the notice as the public sees it: an individual's name, wherever the regulator
    wrote it (张建国使用未经检定电子秤案, 当事人张建国…), masked as ``public_party_name`` masks it.
    A one-character name is left alone: replacing that character everywhere would garble the
    text, and it names no one."""
    name = notice.party_name.strip()
    if notice.party_kind is not PartyKind.individual or len(name) < 2:
        return text
    return text.replace(name, public_party_name(notice))


def notice_url(notice_id: uuid.UUID | str) -> str:
    return f"/notices/{notice_id}"


def listing_dates(notice: EnforcementNotice, on: date) -> tuple[date, date, date | None] | None:
    """When the notice records an entry in the serious dishonesty list (严重违法失信名单): the day
    it was entered (the decision date), the last day on the list (the end of the display), and
    the day it left the list by ``on`` (removal, 移出, or the three years ending; withdrawal,
    when the listing was revoked), None while it is on the list."""
    if not records_listing(notice.penalty_kind):
        return None
    removed: date | None = None
    if notice.status is NoticeStatus.withdrawn and notice.withdrawn_at is not None:
        removed = clock.local_date(notice.withdrawn_at)
    elif notice.display_until < on:
        removed = notice.display_until + timedelta(days=1)
    return notice.decision_date, notice.display_until, removed
