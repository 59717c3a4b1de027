"""The published record in machine-readable form: exports of the current grades, the JSON Feed
of publications, and the signed, hash-chained ledger."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from credit import public
from credit.deps import Now
from credit.ledger import entry_json, head_message, signing_key
from credit.schemas import LedgerPage
from portal import clock
from portal.db import DbSession
from portal.deps import SettingsDep
from portal.exports import safe_cell

router = APIRouter()

# The ledger's sequence numbers are BIGINT: a cursor past the largest is refused at the schema
# (422), not sent to the database, where SQLite overflows into a 500.
MAX_SEQ = 2**63 - 1

EXPORT_COLUMNS = [
    "uscc",
    "name",
    "industry",
    "region_code",
    "association_code",
    "association_name",
    "grade",
    "score",
    "valid_from",
    "valid_until",
    "methodology_code",
    "methodology_version",
    "under_review",
]


async def _export_rows(session: DbSession, now: datetime) -> list[dict[str, Any]]:
    rows, _ = await public.list_ratings(session, today=clock.local_date(now), limit=None)
    return [
        {
            "uscc": row.enterprise.uscc,
            "name": row.name,
            "industry": row.enterprise.industry or "",
            "region_code": row.enterprise.region_code,
            "association_code": row.association.code,
            "association_name": row.association.name,
            "grade": row.rating.grade,
            "score": str(row.rating.score),
            "valid_from": row.rating.valid_from.isoformat(),
            "valid_until": row.rating.valid_until.isoformat(),
            "methodology_code": row.rating.methodology_code,
            "methodology_version": row.rating.methodology_version,
            "under_review": row.rating.under_review,
        }
        for row in rows
    ]


@router.get(
    "/exports/ratings.csv",
    summary="Current grades as CSV (UTF-8 with BOM for Excel; formula cells neutralised)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_csv(session: DbSession, now: Now) -> Response:
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in await _export_rows(session, now):
        writer.writerow({k: safe_cell(v) for k, v in row.items()})
    return Response(
        buffer.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="credit-ratings.csv"'},
    )


@router.get("/exports/ratings.json", summary="Current grades as JSON")
async def export_json(session: DbSession, now: Now) -> JSONResponse:
    rows = await _export_rows(session, now)
    return JSONResponse(
        {"generated_at": now.isoformat(), "count": len(rows), "ratings": rows},
        headers={"Content-Disposition": 'attachment; filename="credit-ratings.json"'},
    )


FEED_TITLES = {
    "rating.published": "发布信用等级",
    "rating.reviewed": "复核信用等级",
    "rating.expired": "信用等级到期",
    "run.published": "发布评价批次",
}


@router.get(
    "/feed.json",
    summary="JSON Feed 1.1 of publications, reviews and expiries",
    response_class=JSONResponse,
    responses={200: {"content": {"application/feed+json": {"schema": {"type": "object"}}}}},
)
async def feed(session: DbSession, settings: SettingsDep) -> JSONResponse:
    base = settings.base_url.rstrip("/")
    items = []
    for event in await public.feed_events(session):
        body = json.loads(event.body)
        payload = body["payload"]
        association = (body.get("association") or {}).get("name", "")
        if event.uscc:
            name = payload.get("enterprise_name") or event.uscc
            grade = payload.get("grade") or payload.get("grade_after") or ""
            title = f"{association}：{name} {FEED_TITLES[event.kind]} {grade}".strip()
            url = f"{base}/credit/enterprises/{event.uscc}"
        else:
            title = f"{association}：{FEED_TITLES[event.kind]}（{payload.get('enterprise_count')} 家企业）"
            url = f"{base}/credit/notices/{body['run_id']}"
        items.append(
            {
                "id": str(event.id),
                "url": url,
                "title": title,
                "content_text": title,
                "date_published": body["at"],
                "_gongzhi": {"seq": event.seq, "kind": event.kind, "hash": event.hash},
            }
        )
    return JSONResponse(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "共治 · 行业计量诚信评价发布",
            "home_page_url": f"{base}/credit",
            "feed_url": f"{base}/api/v1/credit/feed.json",
            "language": "zh-CN",
            "items": items,
        },
        media_type="application/feed+json",
    )


@router.get("/ledger", response_model=LedgerPage, summary="The signed, hash-chained public record")
async def ledger(
    session: DbSession,
    settings: SettingsDep,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> LedgerPage:
    key = signing_key(settings)
    events = await public.ledger_entries(session, after=after, limit=limit)
    head = await public.ledger_head(session)
    next_link = None
    if events and head is not None and events[-1].seq < head.seq:
        next_link = f"/api/v1/credit/ledger?after={events[-1].seq}&limit={limit}"
    return LedgerPage(
        entries=[entry_json(e) for e in events],
        next=next_link,
        head={
            "seq": head.seq,
            "hash": head.hash,
            "key_id": key.key_id,
            "signature": key.sign(head_message(head.seq, head.hash)),
        }
        if head
        else None,
        public_keys=[
            {
                "key_id": key.key_id,
                "algorithm": "Ed25519",
                "public_key": key.public_key_raw_b64(),
                "pem": key.public_key_pem(),
            }
        ],
    )
