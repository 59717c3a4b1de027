"""The rules of the search domain's own documents: writing and publishing articles, regulations,
and importing documents from JSON Lines files.

What the index holds and how it follows the database is in search/documents.py; enforcement
notices are their own domain (notices/).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from portal import facts
from portal.accounts.models import User
from portal.accounts.permissions import Action, authorize
from portal.audit.service import record
from portal.db import utcnow
from portal.facts import enqueue_index
from portal.jsonlines import ImportReport, parse_line
from portal.regions.service import get_region
from search import versions
from search.engine import Kind
from search.errors import ArticleNotFound, InvalidTransition, RegulationNotFound
from search.models import Article, ArticleStatus, Regulation, snapshot
from search.schemas import (
    ArticleCreate,
    ArticleImport,
    ArticleUpdate,
    RegulationImport,
)


async def _audit_and_index(
    session: AsyncSession,
    document: Article,
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


# -- regulations ----------------------------------------------------------------------------


async def get_regulation(session: AsyncSession, regulation_id: uuid.UUID) -> Regulation:
    regulation = await session.get(Regulation, regulation_id)
    if regulation is None:
        raise RegulationNotFound()
    return regulation


# -- import ---------------------------------------------------------------------------------


async def import_regulations(
    session: AsyncSession, rows: Iterable[tuple[int, dict[str, Any]]]
) -> ImportReport:
    """Insert or update by the corpus id; unchanged rows are left alone and not reindexed."""
    parsed: list[RegulationImport] = [parse_line(RegulationImport, n, v) for n, v in rows]
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
        facts = versions.read_version(item.body)
        values: dict[str, Any] = {
            "title": item.title,
            "category": item.category or "",
            "region": item.region or None,
            # The corpus's date, else the latest date the text's opening lines give.
            "issued_on": item.date or facts.version_date,
            "issuer": facts.issuer,
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
    changed = await refresh_statuses(session, {item.title for item in parsed})
    already = set(touched)
    touched.extend(i for i in changed if i not in already)
    await enqueue_index(session, "regulation", touched)
    return ImportReport(kind="regulation", created=created, updated=updated)


def _version_date(regulation: Regulation) -> date | None:
    found = versions.read_version(regulation.body).version_date
    dates = [d for d in (regulation.issued_on, found) if d is not None]
    return max(dates, default=None)


async def refresh_statuses(session: AsyncSession, titles: set[str]) -> list[uuid.UUID]:
    """Recompute the status of every version of these titles, and of what the repeal decisions
    in the database name; returns the ids whose status changed (to be reindexed)."""
    decisions = list(
        await session.scalars(select(Regulation).where(col(Regulation.title).contains("废止")))
    )
    repeals = [
        (d.region, _version_date(d), versions.repealed_titles(d.title, d.body)) for d in decisions
    ]
    named = {title for _, _, repealed in repeals for title in repealed}
    bare = {title.removeprefix("中华人民共和国") for title in titles} | named
    wanted = bare | {"中华人民共和国" + title for title in bare}
    rows = list(await session.scalars(select(Regulation).where(col(Regulation.title).in_(wanted))))
    found = versions.statuses(
        [versions.VersionRow(str(r.id), r.title, r.region, _version_date(r)) for r in rows],
        [r for r in repeals if r[2]],
    )
    changed: list[uuid.UUID] = []
    for row in rows:
        status = found.get(str(row.id))
        if row.status != status:
            row.status = status
            row.updated_at = utcnow()
            changed.append(row.id)
    await session.flush()
    return changed


async def other_versions(session: AsyncSession, regulation: Regulation) -> list[Regulation]:
    """The other regulations of the same title and region, newest first."""
    rows = await session.scalars(
        select(Regulation)
        .where(
            Regulation.title == regulation.title,
            Regulation.region == regulation.region
            if regulation.region is not None
            else col(Regulation.region).is_(None),
            Regulation.id != regulation.id,
        )
        .order_by(col(Regulation.issued_on).desc())
    )
    return list(rows)


async def import_articles(
    session: AsyncSession, rows: Iterable[tuple[int, dict[str, Any]]]
) -> ImportReport:
    items: list[ArticleImport] = [parse_line(ArticleImport, n, v) for n, v in rows]
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


async def document_counts(session: AsyncSession) -> dict[str, int]:
    counts = {}
    for name, model in (("article", Article), ("regulation", Regulation)):
        counts[name] = int(await session.scalar(select(func.count()).select_from(model)) or 0)
    counts.update(await facts.document_counts(session))  # enforcement notices (notices/)
    return {kind: counts.get(kind, 0) for kind in ("article", "notice", "regulation")}
