"""How a published document becomes a search-engine entry, and how the index is kept in step.

Every change that alters what the public may see enqueues ``search.index`` in the same
transaction (``enqueue_index``); the handler (search/jobs.py) loads the current state and
indexes or deletes, so events may run in any order and more than once. Articles and regulations
are this domain's own; enforcement notices belong to notices/, which offers them through
portal/facts.py (``public_documents``) and announces changes with the same ``enqueue_index``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from portal import clock, facts
from portal.clock import SHANGHAI
from portal.facts import INDEX_BATCH, region_codes
from portal.regions.models import Region
from search import text
from search.engine import NATIONWIDE, Kind, SearchDocument
from search.models import Article, ArticleStatus, Regulation
from search.versions import VERSION_RANK


def article_url(article_id: uuid.UUID | str) -> str:
    return f"/articles/{article_id}"


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
        issuer=regulation.issuer or "",
        status=regulation.status.value if regulation.status else "",
        version_rank=VERSION_RANK[regulation.status],
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
    elif kind == "regulation":
        regulations = await session.scalars(select(Regulation).where(col(Regulation.id).in_(uuids)))
        documents = [regulation_document(r) for r in regulations]
    else:  # another domain's documents (enforcement notices)
        documents = (
            await facts.public_documents(session, kind=kind, ids=uuids, on=clock.today()) or []
        )
    visible = {d.id for d in documents}
    deleted = [f"{kind}-{i}" for i in ids if str(uuid.UUID(i)) not in visible]
    return documents, deleted


async def all_public_documents(
    session: AsyncSession, *, batch: int = INDEX_BATCH
) -> AsyncIterator[list[SearchDocument]]:
    """Every document the public may see, in batches (for a rebuild)."""
    article_ids = await session.scalars(
        select(Article.id).where(Article.status == ArticleStatus.published)
    )
    others = await facts.public_document_ids(session, on=clock.today())
    regulation_ids = await session.scalars(select(Regulation.id).order_by(Regulation.source_id))
    kinds: list[tuple[Kind, list[uuid.UUID]]] = [
        ("article", list(article_ids)),
        ("notice", others.get("notice", [])),
        ("regulation", list(regulation_ids)),
    ]
    for kind, ids in kinds:
        for start in range(0, len(ids), batch):
            documents, _ = await load_documents(
                session, kind, [str(i) for i in ids[start : start + batch]]
            )
            if documents:
                yield documents
