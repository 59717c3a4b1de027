"""What anyone reads of a campaign, made once per process: its lists' digests, and the public
JSON of each of its two states (committed, drawn).

A campaign may list 200,000 sites (``GONGZHI_ENFORCEMENT_MAX_CANDIDATES``): its public JSON is
then some 23 MB, too large for the page cache (portal/pagecache.py keeps answers up to 256 KiB),
and digesting and serialising the lists cost about a second of CPU per anonymous request — a
handful of requests a second would have kept every worker busy. The lists, the parameters and
the commitment never change once committed, and the draw changes the campaign once; so the
answer of a (campaign, state) is made once and served from memory afterwards, within a bound of
bytes per process (least recently used dropped first)."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from enforcement import campaigns, draw
from enforcement.errors import CampaignNotFound
from enforcement.models import InspectionCampaign

MAX_BYTES = 96 * 1024 * 1024


class _Kept:
    """A bounded map of bytes and of digests, least recently used dropped first."""

    def __init__(self, max_bytes: int) -> None:
        self._entries: OrderedDict[tuple[Any, ...], tuple[Any, int]] = OrderedDict()
        self._max_bytes = max_bytes
        self.size = 0

    def get(self, key: tuple[Any, ...]) -> Any:
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: tuple[Any, ...], value: Any, size: int) -> None:
        if size > self._max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= old[1]
        self._entries[key] = (value, size)
        self.size += size
        while self.size > self._max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.size -= dropped

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0


KEPT = _Kept(MAX_BYTES)


def _bind(session: AsyncSession) -> int:
    return id(session.get_bind())  # one database a process, except in tests


def digests(session: AsyncSession, campaign: InspectionCampaign) -> tuple[str, str, str]:
    """The digests of the candidates, the inspectors and the parameters (never changed once
    committed)."""
    key = ("digests", _bind(session), campaign.id)
    found: tuple[str, str, str] | None = KEPT.get(key)
    if found is None:
        found = (
            draw.digest(campaign.candidates),
            draw.digest(campaign.inspectors),
            draw.digest(campaign.parameters),
        )
        KEPT.put(key, found, 256)
    return found


async def public_json(
    session: AsyncSession,
    campaign_id: uuid.UUID,
    render: Callable[[InspectionCampaign], bytes],
) -> bytes:
    """The public JSON of the campaign in its present state: one small query when this process
    has made it already."""
    status = (
        await session.execute(
            select(col(InspectionCampaign.status)).where(col(InspectionCampaign.id) == campaign_id)
        )
    ).scalar_one_or_none()
    if status is None:
        raise CampaignNotFound()
    body: bytes | None = KEPT.get(("json", _bind(session), campaign_id, str(status)))
    if body is None:
        campaign = await campaigns.get(session, campaign_id)
        body = render(campaign)
        # Keyed by the state just read with the lists: a draw committed in between is the
        # drawn answer's, never the committed one's.
        KEPT.put(("json", _bind(session), campaign_id, str(campaign.status)), body, len(body))
    return body


@dataclass(frozen=True)
class CampaignPage:
    """What the public page of a campaign shows: its fields and, of its lists, only the drawn
    sites and the inspectors (the page is asked for like the JSON, and reading a 200,000-site
    list for each visitor cost as much)."""

    id: uuid.UUID
    title: str
    region_code: str
    candidate_count: int
    parameters: dict[str, Any]
    commitment: str
    status: str
    seed: str | None
    result: list[dict[str, Any]] | None
    digests: tuple[str, str, str]
    sites: dict[str, dict[str, Any]]
    inspectors: dict[str, dict[str, Any]]


def _page_of(session: AsyncSession, c: InspectionCampaign) -> CampaignPage:
    drawn = c.status == "drawn"
    result = c.result if drawn else None
    wanted = {r["id"] for r in result or []}
    return CampaignPage(
        id=c.id,
        title=c.title,
        region_code=c.region_code,
        candidate_count=c.candidate_count,
        parameters=c.parameters,
        commitment=c.commitment,
        status=str(c.status),
        seed=c.seed if drawn else None,
        result=result,
        digests=digests(session, c),
        sites={s["id"]: s for s in c.candidates if s["id"] in wanted},
        inspectors={i["id"]: i for i in c.inspectors} if drawn else {},
    )


async def page(session: AsyncSession, campaign_id: uuid.UUID) -> CampaignPage:
    """The page's view of the campaign in its present state, made once per process."""
    status = (
        await session.execute(
            select(col(InspectionCampaign.status)).where(col(InspectionCampaign.id) == campaign_id)
        )
    ).scalar_one_or_none()
    if status is None:
        raise CampaignNotFound()
    found: CampaignPage | None = KEPT.get(("page", _bind(session), campaign_id, str(status)))
    if found is None:
        found = _page_of(session, await campaigns.get(session, campaign_id))
        size = 1024 + 300 * (len(found.sites) + len(found.inspectors))
        KEPT.put(("page", _bind(session), campaign_id, found.status), found, size)
    return found
