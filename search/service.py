"""The rules of the search domain: writing and publishing documents, what the public may see,
and how a document becomes a search-engine entry.

Every change that alters what the public may see enqueues ``search.index`` in the same
transaction (``enqueue_index``); the handler (search/jobs.py) loads the current state and
indexes or deletes, so events may run in any order and more than once.
"""

from __future__ import annotations

import gzip
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from portal import clock
from portal.accounts.models import User
from portal.accounts.permissions import Action, authorize
from portal.audit.service import record
from portal.clock import SHANGHAI
from portal.db import utcnow
from portal.errors import Conflict, InvalidInput, NotFound
from portal.outbox import service as outbox
from portal.regions.models import Region
from portal.regions.service import get_region
from portal.settings import Settings
from search import text
from search.engine import NATIONWIDE, Kind, SearchDocument
from search.models import (
    Article,
    ArticleStatus,
    EnforcementNotice,
    NoticeStatus,
    Regulation,
    snapshot,
)
from search.schemas import (
    ArticleCreate,
    ArticleImport,
    ArticleUpdate,
    ImportReport,
    NoticeCreate,
    NoticeUpdate,
    RegulationImport,
)

INDEX_TOPIC = "search.index"
INDEX_BATCH = 500


class ArticleNotFound(NotFound):
    code = "article_not_found"
    title = "No such article"
    title_zh = "文章不存在或未发布"


class NoticeNotFound(NotFound):
    code = "notice_not_found"
    title = "No such enforcement notice"
    title_zh = "公示信息不存在或已停止公示"


class RegulationNotFound(NotFound):
    code = "regulation_not_found"
    title = "No such regulation"
    title_zh = "法规不存在"


class InvalidTransition(Conflict):
    code = "invalid_status_transition"
    title = "Not possible in the document's current status"
    title_zh = "当前状态下不能进行此操作"


class DuplicateDecisionNumber(Conflict):
    code = "duplicate_decision_number"
    title = "A notice with this decision number exists"
    title_zh = "该行政处罚决定书文号已公示"


class InvalidDisplayPeriod(InvalidInput):
    code = "invalid_display_period"
    title = "The display period is not valid"
    title_zh = "公示期限不正确"


class ImportFileInvalid(InvalidInput):
    code = "import_file_invalid"
    title = "The import file is not valid"
    title_zh = "导入文件内容有误"


def today() -> date:
    """The calendar day in China: display periods end at local midnight."""
    return clock.today()


# -- what the public sees -----------------------------------------------------------------


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


def region_codes(code: str) -> tuple[str, ...]:
    """A GB/T 2260 code and its ancestors: 610402 → 610000, 610400, 610402."""
    chain = [code[:2] + "0000", code[:4] + "00", code]
    return tuple(dict.fromkeys(chain))


def article_url(article_id: uuid.UUID | str) -> str:
    return f"/articles/{article_id}"


def notice_url(notice_id: uuid.UUID | str) -> str:
    return f"/notices/{notice_id}"


def regulation_url(regulation_id: uuid.UUID | str) -> str:
    return f"/regulations/{regulation_id}"


def article_document(article: Article, region: Region | None) -> SearchDocument:
    published = article.published_at.astimezone(SHANGHAI).date() if article.published_at else None
    return SearchDocument(
        kind="article",
        id=str(article.id),
        title=article.title,
        summary=article.summary,
        body=text.plain_text(article.body),
        keywords=" ".join([*article.tags, article.author_name]),
        tags=tuple(article.tags),
        category="科普",
        region=region.name if region else NATIONWIDE,
        region_codes=region_codes(region.code) if region else (),
        date=published,
        url=article_url(article.id),
    )


def notice_document(notice: EnforcementNotice, region: Region | None) -> SearchDocument:
    party = public_party_name(notice)
    amount = f"罚款{notice.penalty_amount}元" if notice.penalty_amount else ""
    return SearchDocument(
        kind="notice",
        id=str(notice.id),
        title=notice.title,
        summary=f"{party}：{notice.violation[:200]}",
        body="\n".join(
            [notice.violation, notice.legal_basis, notice.penalty_kind, amount, notice.authority]
        ),
        keywords=" ".join([party, notice.decision_number, notice.party_uscc or ""]),
        tags=(notice.penalty_kind,),
        category="行政处罚",
        region=region.name if region else notice.region_code,
        region_codes=region_codes(notice.region_code),
        date=notice.decision_date,
        url=notice_url(notice.id),
    )


def regulation_document(regulation: Regulation) -> SearchDocument:
    return SearchDocument(
        kind="regulation",
        id=str(regulation.id),
        title=regulation.title,
        body=text.plain_text(regulation.body),
        keywords=regulation.category,
        category=regulation.category,
        region=regulation.region or NATIONWIDE,
        date=regulation.issued_on,
        url=regulation_url(regulation.id),
    )


async def _regions(session: AsyncSession, codes: Iterable[str | None]) -> dict[str, Region]:
    wanted = {c for c in codes if c}
    if not wanted:
        return {}
    rows = await session.scalars(select(Region).where(col(Region.code).in_(wanted)))
    return {r.code: r for r in rows}


async def load_documents(
    session: AsyncSession, kind: Kind, ids: Sequence[str]
) -> tuple[list[SearchDocument], list[str]]:
    """The documents to index (those the public may see now) and the keys to delete (the rest,
    including ids that no longer exist)."""
    uuids = [uuid.UUID(i) for i in ids]
    documents: list[SearchDocument] = []
    if kind == "article":
        articles = list(await session.scalars(select(Article).where(col(Article.id).in_(uuids))))
        regions = await _regions(session, (a.region_code for a in articles))
        documents = [
            article_document(a, regions.get(a.region_code or ""))
            for a in articles
            if a.status is ArticleStatus.published
        ]
    elif kind == "notice":
        notices = list(
            await session.scalars(
                select(EnforcementNotice).where(col(EnforcementNotice.id).in_(uuids))
            )
        )
        regions = await _regions(session, (n.region_code for n in notices))
        on = today()
        documents = [
            notice_document(n, regions.get(n.region_code)) for n in notices if notice_visible(n, on)
        ]
    else:
        regulations = await session.scalars(select(Regulation).where(col(Regulation.id).in_(uuids)))
        documents = [regulation_document(r) for r in regulations]
    visible = {d.id for d in documents}
    deleted = [f"{kind}-{i}" for i in ids if str(uuid.UUID(i)) not in visible]
    return documents, deleted


async def _audit_and_index(
    session: AsyncSession,
    document: Article | EnforcementNotice,
    kind: Kind,
    action: str,
    *,
    before: dict[str, Any] | None,
    actor: User,
) -> None:
    """Every staff change of a document: audited, and the index told, in the same transaction."""
    await session.flush()
    await record(
        session,
        actor=actor,
        action=action,
        entity_type=kind,
        entity_id=document.id,
        region_code=document.region_code,
        before=before,
        after=snapshot(document),
    )
    await enqueue_index(session, kind, [document.id])


async def enqueue_index(session: AsyncSession, kind: Kind, ids: Sequence[uuid.UUID]) -> None:
    """Ask the worker to bring the engine in line with these rows (same transaction)."""
    for start in range(0, len(ids), INDEX_BATCH):
        chunk = [str(i) for i in ids[start : start + INDEX_BATCH]]
        await outbox.enqueue(session, INDEX_TOPIC, {"kind": kind, "ids": chunk})


async def all_public_documents(
    session: AsyncSession, *, batch: int = INDEX_BATCH
) -> AsyncIterator[list[SearchDocument]]:
    """Every document the public may see, in batches (for a rebuild)."""
    on = today()
    article_ids = await session.scalars(
        select(Article.id).where(Article.status == ArticleStatus.published)
    )
    notice_ids = await session.scalars(
        select(EnforcementNotice.id).where(
            EnforcementNotice.status == NoticeStatus.published,
            col(EnforcementNotice.published_on) <= on,
            col(EnforcementNotice.display_until) >= on,
        )
    )
    regulation_ids = await session.scalars(select(Regulation.id).order_by(Regulation.source_id))
    kinds: list[tuple[Kind, list[uuid.UUID]]] = [
        ("article", list(article_ids)),
        ("notice", list(notice_ids)),
        ("regulation", list(regulation_ids)),
    ]
    for kind, ids in kinds:
        for start in range(0, len(ids), batch):
            documents, _ = await load_documents(
                session, kind, [str(i) for i in ids[start : start + batch]]
            )
            if documents:
                yield documents


# -- articles -------------------------------------------------------------------------------


async def _article_for_staff(session: AsyncSession, article_id: uuid.UUID, actor: User) -> Article:
    article = await session.get(Article, article_id)
    if article is None:
        raise ArticleNotFound()
    authorize(actor, Action.article_publish, region_code=article.region_code)
    return article


async def create_article(session: AsyncSession, data: ArticleCreate, *, actor: User) -> Article:
    authorize(actor, Action.article_publish)
    now = utcnow()
    article = Article(
        title=data.title,
        summary=data.summary,
        body=data.body,
        tags=list(dict.fromkeys(data.tags)),
        author_id=actor.id,
        author_name=actor.display_name or actor.email.split("@")[0],
        region_code=actor.region_code,
        status=ArticleStatus.published if data.publish else ArticleStatus.draft,
        published_at=now if data.publish else None,
        created_at=now,
        updated_at=now,
    )
    session.add(article)
    await session.flush()
    await record(
        session,
        actor=actor,
        action="article.create",
        entity_type="article",
        entity_id=article.id,
        region_code=article.region_code,
        after=snapshot(article),
    )
    if data.publish:
        await enqueue_index(session, "article", [article.id])
    return article


async def update_article(
    session: AsyncSession, article_id: uuid.UUID, data: ArticleUpdate, *, actor: User
) -> Article:
    article = await _article_for_staff(session, article_id, actor)
    before = snapshot(article)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "tags" in changes:
        changes["tags"] = list(dict.fromkeys(changes["tags"]))
    for key, value in changes.items():
        setattr(article, key, value)
    article.updated_at = utcnow()
    await session.flush()
    await record(
        session,
        actor=actor,
        action="article.update",
        entity_type="article",
        entity_id=article.id,
        region_code=article.region_code,
        before=before,
        after=snapshot(article),
    )
    if article.status is ArticleStatus.published:
        await enqueue_index(session, "article", [article.id])
    return article


async def publish_article(session: AsyncSession, article_id: uuid.UUID, *, actor: User) -> Article:
    article = await _article_for_staff(session, article_id, actor)
    if article.status is ArticleStatus.published:
        raise InvalidTransition("The article is already published.", detail_zh="文章已发布。")
    before = snapshot(article)
    article.status = ArticleStatus.published
    article.published_at = article.published_at or utcnow()
    article.withdrawn_at = None
    article.withdrawal_reason = None
    article.updated_at = utcnow()
    await _audit_and_index(
        session, article, "article", "article.publish", before=before, actor=actor
    )
    return article


async def withdraw_article(
    session: AsyncSession, article_id: uuid.UUID, *, reason: str, actor: User
) -> Article:
    article = await _article_for_staff(session, article_id, actor)
    if article.status is not ArticleStatus.published:
        raise InvalidTransition(
            "Only a published article can be withdrawn.", detail_zh="只有已发布的文章可以撤回。"
        )
    before = snapshot(article)
    article.status = ArticleStatus.withdrawn
    article.withdrawn_at = utcnow()
    article.withdrawal_reason = reason
    article.updated_at = utcnow()
    await _audit_and_index(
        session, article, "article", "article.withdraw", before=before, actor=actor
    )
    return article


async def get_public_article(session: AsyncSession, article_id: uuid.UUID) -> Article:
    article = await session.get(Article, article_id)
    if article is None or article.status is not ArticleStatus.published:
        raise ArticleNotFound()
    return article


async def get_article_for(
    session: AsyncSession, article_id: uuid.UUID, actor: User | None
) -> Article:
    """Published articles for everyone; drafts and withdrawn ones for editors who may edit them."""
    article = await session.get(Article, article_id)
    if article is None:
        raise ArticleNotFound()
    if article.status is ArticleStatus.published:
        return article
    if actor is None:
        raise ArticleNotFound()
    try:
        authorize(actor, Action.article_publish, region_code=article.region_code)
    except Exception as exc:
        raise ArticleNotFound() from exc
    return article


async def list_articles_for_staff(session: AsyncSession, *, actor: User) -> list[Article]:
    authorize(actor, Action.article_publish)
    stmt = select(Article).order_by(col(Article.updated_at).desc()).limit(200)
    articles = list(await session.scalars(stmt))
    visible = []
    for article in articles:
        try:
            authorize(actor, Action.article_publish, region_code=article.region_code)
        except Exception:
            continue
        visible.append(article)
    return visible


# -- enforcement notices --------------------------------------------------------------------


def is_minor_penalty(kind: str, amount: Decimal | None, settings: Settings) -> bool:
    """Only 通报批评 and/or a fine up to the province's "lower amount" (第十三条)."""
    parts = {
        p.strip() for p in kind.replace("，", "；").replace(",", "；").split("；") if p.strip()
    }
    if not parts or not parts <= {"通报批评", "罚款"}:
        return False
    if "罚款" in parts:
        return amount is not None and amount <= settings.notice_minor_fine_max_yuan
    return True


def default_display_until(
    published_on: date, kind: str, amount: Decimal | None, settings: Settings
) -> date:
    months = (
        settings.notice_display_months_minor
        if is_minor_penalty(kind, amount, settings)
        else settings.notice_display_months
    )
    return clock.add_months(published_on, months)


async def create_notice(
    session: AsyncSession, data: NoticeCreate, *, actor: User | None, settings: Settings
) -> EnforcementNotice:
    if actor is not None:
        authorize(actor, Action.notice_publish, region_code=data.region_code)
    await get_region(session, data.region_code)
    exists = await session.scalar(
        select(EnforcementNotice.id).where(
            EnforcementNotice.decision_number == data.decision_number
        )
    )
    if exists is not None:
        raise DuplicateDecisionNumber(
            f"Decision {data.decision_number} is already published.",
            detail_zh=f"文号为 {data.decision_number} 的处罚决定已公示。",
        )
    published_on = data.published_on or today()
    if data.decision_date > published_on:
        raise InvalidDisplayPeriod(
            "The decision date is after the publication date.",
            detail_zh="处罚决定日期晚于公示日期。",
        )
    display_until = data.display_until or default_display_until(
        published_on, data.penalty_kind, data.penalty_amount, settings
    )
    if display_until < published_on:
        raise InvalidDisplayPeriod(
            "The display period ends before it starts.", detail_zh="公示截止日期早于公示日期。"
        )
    now = utcnow()
    notice = EnforcementNotice(
        **data.model_dump(exclude={"published_on", "display_until"}),
        published_on=published_on,
        display_until=display_until,
        status=NoticeStatus.published,
        created_by=actor.id if actor else None,
        created_at=now,
        updated_at=now,
    )
    session.add(notice)
    await session.flush()
    await record(
        session,
        actor=actor,
        action="notice.publish",
        entity_type="notice",
        entity_id=notice.id,
        region_code=notice.region_code,
        after=snapshot(notice),
    )
    await enqueue_index(session, "notice", [notice.id])
    return notice


async def _notice_for_staff(
    session: AsyncSession, notice_id: uuid.UUID, actor: User
) -> EnforcementNotice:
    notice = await session.get(EnforcementNotice, notice_id)
    if notice is None:
        raise NoticeNotFound()
    authorize(actor, Action.notice_publish, region_code=notice.region_code)
    return notice


async def update_notice(
    session: AsyncSession, notice_id: uuid.UUID, data: NoticeUpdate, *, actor: User
) -> EnforcementNotice:
    notice = await _notice_for_staff(session, notice_id, actor)
    if notice.status is not NoticeStatus.published:
        raise InvalidTransition(
            "Only a notice on display can be corrected.", detail_zh="只能更正正在公示的信息。"
        )
    before = snapshot(notice)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "display_until" in changes and changes["display_until"] < notice.published_on:
        raise InvalidDisplayPeriod(
            "The display period ends before it starts.", detail_zh="公示截止日期早于公示日期。"
        )
    for key, value in changes.items():
        setattr(notice, key, value)
    notice.updated_at = utcnow()
    await _audit_and_index(session, notice, "notice", "notice.update", before=before, actor=actor)
    return notice


async def withdraw_notice(
    session: AsyncSession, notice_id: uuid.UUID, *, reason: str, actor: User
) -> EnforcementNotice:
    notice = await _notice_for_staff(session, notice_id, actor)
    if notice.status is not NoticeStatus.published:
        raise InvalidTransition(
            "Only a notice on display can be withdrawn.", detail_zh="只能撤回正在公示的信息。"
        )
    before = snapshot(notice)
    notice.status = NoticeStatus.withdrawn
    notice.withdrawn_at = utcnow()
    notice.withdrawal_reason = reason
    notice.updated_at = utcnow()
    await _audit_and_index(session, notice, "notice", "notice.withdraw", before=before, actor=actor)
    return notice


async def expire_notices(session: AsyncSession, *, on: date | None = None) -> int:
    """Mark notices whose display period ended as expired and take them out of the index."""
    on = on or today()
    notices = list(
        await session.scalars(
            select(EnforcementNotice).where(
                EnforcementNotice.status == NoticeStatus.published,
                col(EnforcementNotice.display_until) < on,
            )
        )
    )
    for notice in notices:
        notice.status = NoticeStatus.expired
        notice.updated_at = utcnow()
        await record(
            session,
            actor=None,
            action="notice.expire",
            entity_type="notice",
            entity_id=notice.id,
            region_code=notice.region_code,
            after={"status": "expired", "display_until": notice.display_until},
        )
    await session.flush()
    await enqueue_index(session, "notice", [n.id for n in notices])
    return len(notices)


async def get_public_notice(session: AsyncSession, notice_id: uuid.UUID) -> EnforcementNotice:
    notice = await session.get(EnforcementNotice, notice_id)
    if notice is None or not notice_visible(notice, today()):
        raise NoticeNotFound()
    return notice


async def list_notices_for_staff(session: AsyncSession, *, actor: User) -> list[EnforcementNotice]:
    authorize(actor, Action.notice_publish)
    stmt = select(EnforcementNotice).order_by(col(EnforcementNotice.created_at).desc())
    if actor.region_code and actor.role != "admin":
        from portal.regions.service import significant_prefix

        stmt = stmt.where(
            col(EnforcementNotice.region_code).startswith(significant_prefix(actor.region_code))
        )
    return list(await session.scalars(stmt.limit(200)))


# -- regulations ----------------------------------------------------------------------------


async def get_regulation(session: AsyncSession, regulation_id: uuid.UUID) -> Regulation:
    regulation = await session.get(Regulation, regulation_id)
    if regulation is None:
        raise RegulationNotFound()
    return regulation


# -- import ---------------------------------------------------------------------------------


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-empty line of a JSON Lines file, gzipped or not."""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open(path, "rb") if gzipped else path.open("rb")
    with opener as handle, io.TextIOWrapper(handle, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImportFileInvalid(
                    f"Line {number} is not JSON: {exc.msg}.",
                    detail_zh=f"第 {number} 行不是有效的 JSON。",
                ) from exc
            if not isinstance(value, dict):
                raise ImportFileInvalid(
                    f"Line {number} is not a JSON object.",
                    detail_zh=f"第 {number} 行不是 JSON 对象。",
                )
            yield number, value


def _parse(model: type[BaseModel], number: int, value: dict[str, Any]) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        errors = [
            {"field": f"line {number}: " + ".".join(map(str, e["loc"])), "message": e["msg"]}
            for e in exc.errors()
        ]
        raise ImportFileInvalid(
            f"Line {number} is not valid: {errors[0]['field']} {errors[0]['message']}.",
            detail_zh=f"第 {number} 行内容有误：{errors[0]['field']}。",
            errors=errors,
        ) from exc


async def import_regulations(
    session: AsyncSession, rows: Iterable[tuple[int, dict[str, Any]]]
) -> ImportReport:
    """Insert or update by the corpus id; unchanged rows are left alone and not reindexed."""
    parsed: list[RegulationImport] = [_parse(RegulationImport, n, v) for n, v in rows]
    existing = {
        r.source_id: r
        for r in await session.scalars(
            select(Regulation).where(col(Regulation.source_id).in_([p.id for p in parsed]))
        )
    }
    created = updated = 0
    touched: list[uuid.UUID] = []
    now = utcnow()
    for item in parsed:
        values: dict[str, Any] = {
            "title": item.title,
            "category": item.category or "",
            "region": item.region or None,
            "issued_on": item.date,
            "body": item.body,
        }
        row = existing.get(item.id)
        if row is None:
            row = Regulation(source_id=item.id, created_at=now, updated_at=now, **values)
            session.add(row)
            existing[item.id] = row
            created += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = now
            updated += 1
        else:
            continue
        touched.append(row.id)
    await session.flush()
    await enqueue_index(session, "regulation", touched)
    return ImportReport(kind="regulation", created=created, updated=updated)


async def import_articles(
    session: AsyncSession, rows: Iterable[tuple[int, dict[str, Any]]]
) -> ImportReport:
    items: list[ArticleImport] = [_parse(ArticleImport, n, v) for n, v in rows]
    now = utcnow()
    created: list[uuid.UUID] = []
    for item in items:
        if item.region_code:
            await get_region(session, item.region_code)
        published = item.status is ArticleStatus.published
        article = Article(
            title=item.title,
            summary=item.summary,
            body=item.body,
            tags=list(dict.fromkeys(item.tags)),
            author_name=item.author,
            region_code=item.region_code,
            status=item.status,
            published_at=(item.published_at or now) if published else None,
            created_at=now,
            updated_at=now,
        )
        session.add(article)
        created.append(article.id)
    await session.flush()
    await enqueue_index(session, "article", created)
    return ImportReport(kind="article", created=len(created), updated=0)


async def import_notices(
    session: AsyncSession, rows: Iterable[tuple[int, dict[str, Any]]], *, settings: Settings
) -> ImportReport:
    items: list[tuple[int, NoticeCreate]] = [(n, _parse(NoticeCreate, n, v)) for n, v in rows]
    count = 0
    for number, item in items:
        try:
            await create_notice(session, item, actor=None, settings=settings)
        except (Conflict, InvalidInput) as exc:
            raise ImportFileInvalid(
                f"Line {number}: {exc.detail}", detail_zh=f"第 {number} 行：{exc.detail_zh}"
            ) from exc
        count += 1
    return ImportReport(kind="notice", created=count, updated=0)


async def document_counts(session: AsyncSession) -> dict[str, int]:
    counts = {}
    for name, model in (
        ("article", Article),
        ("notice", EnforcementNotice),
        ("regulation", Regulation),
    ):
        counts[name] = int(await session.scalar(select(func.count()).select_from(model)) or 0)
    return counts
