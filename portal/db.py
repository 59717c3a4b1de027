"""Database engine, sessions and the transaction rule.

The rule (also in CONTRIBUTING.md): **services never commit**. They add and ``flush()``. The request's
``DbSession`` dependency commits once, after the route function returns and *before* the response
is sent (``Depends(scope="function")``), or rolls back if anything raised. Background jobs and the
CLI open their own session with ``Database.transaction()``, which follows the same rule.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import ColumnElement, DateTime, MetaData, event, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from portal import clock
from portal.cache import BOOKKEEPING_TABLES, READ_ON_REPLICA, Cache, LocalCache, open_cache
from portal.errors import UnstorableValue
from portal.metrics import REPLICA_FALLBACKS, watch_pool
from portal.settings import Settings


def one_of(column: Any, values: list[str], session: AsyncSession) -> ColumnElement[bool]:
    """``column IN values`` for a long list of strings. On SQLite the list is one JSON parameter
    (``json_each``): SQLAlchemy renders an expanding IN as one parameter per value on every
    execution, and a bulk import's batches of 2,000 numbers spent more in that than in SQLite."""
    if session.get_bind().dialect.name == "sqlite":
        each = func.json_each(json.dumps(values)).table_valued("value")
        return column.in_(select(each.c.value))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


# Constraint names are stable across SQLite and PostgreSQL so that migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata


def utcnow() -> datetime:
    """Timezone-aware UTC now, from the portal's one clock (``portal.clock``)."""
    return clock.now()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every database. SQLite keeps no offset, so values are
    normalised to UTC before storing and marked UTC when loaded; naive input is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC values")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while one writer commits; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Reads through the OS's page cache, shared by every connection, instead of a read() call
    # per page into each connection's 2 MB cache: a count over 100,000 grades spent more time
    # in the kernel than in SQLite (as the certificate lookup's reader, api/certificates).
    cursor.execute("PRAGMA mmap_size=1073741824")
    cursor.close()


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=1800
        )
    watch_pool(engine)
    return engine


# A session that wrote to a table other than the bookkeeping ones (portal/cache.py): after its
# commit, every cached answer is invalidated.
_CHANGED = "gongzhi.public_changed"


def _changes_public_data(table: Any) -> bool:
    name = getattr(table, "name", None)
    return name is None or name not in BOOKKEEPING_TABLES


def written(session: AsyncSession | OrmSession, table: Any) -> None:
    """``table`` was written past the session's listeners (on the driver: executemany, COPY, a
    raw ``text()`` statement): its commit invalidates as an ORM or Core write would."""
    if _changes_public_data(table):
        sync = session.sync_session if isinstance(session, AsyncSession) else session
        sync.info[_CHANGED] = True


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


@event.listens_for(OrmSession, "before_flush")
def _refuse_unstorable_text(session: OrmSession, _context: Any, _instances: Any) -> None:
    """A NUL character in text or JSON: PostgreSQL refuses it (the error handler's 422
    ``invalid_value``) while SQLite would keep it, so a complaint, a registration or a rating
    written with one was accepted on one database and refused on the other. Refused here for
    both, before anything is written, with the same answer. Only values being written are
    looked at: a row SQLite kept earlier can still be changed in its other columns."""
    for instance in (*session.new, *session.dirty):
        state = inspect(instance)
        for attribute in state.mapper.column_attrs:
            if instance in session.new:
                written_values: Any = [state.dict.get(attribute.key)]
            else:
                written_values = state.attrs[attribute.key].history.added or ()
            if any(_holds_nul(value) for value in written_values):
                raise UnstorableValue(
                    "The request contains a character or value that cannot be stored "
                    "(for example a NUL character).",
                    detail_zh="提交的内容含有无法保存的字符或数值（例如空字符），请检查后重新提交。",
                )


@event.listens_for(OrmSession, "after_flush")
def _flushed(session: OrmSession, _context: Any) -> None:
    if session.info.get(_CHANGED):
        return
    for instance in (*session.new, *session.dirty, *session.deleted):
        if _changes_public_data(getattr(type(instance), "__table__", None)):
            session.info[_CHANGED] = True
            return


@event.listens_for(OrmSession, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    # INSERT/UPDATE/DELETE statements run through session.execute (bulk imports, projections).
    if (state.is_insert or state.is_update or state.is_delete) and not state.session.info.get(
        _CHANGED
    ):
        if _changes_public_data(getattr(state.statement, "table", None)):
            state.session.info[_CHANGED] = True


@event.listens_for(OrmSession, "after_soft_rollback")
def _rolled_back(session: OrmSession, previous: Any) -> None:
    # The whole transaction, not a savepoint inside it: what was written before the savepoint
    # is still to be committed.
    if getattr(previous, "parent", None) is None and not getattr(previous, "nested", False):
        session.info.pop(_CHANGED, None)


class Database:
    """One engine and its session factory; created by the app's lifespan, the CLI or a test."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        settings: Settings | None = None,
        cache: Cache | None = None,
    ) -> None:
        self.url = url
        self.settings = settings  # what the database was opened with, for workers it hands jobs to
        # What a commit that changed public data invalidates (portal/cache.py): the app's own
        # cache, or for a worker or a command the one its settings name, so a write anywhere
        # reaches every node's cached answers.
        if cache is None:
            cache = (
                open_cache(settings.cache_url, settings.cache_prefix)
                if settings is not None
                else LocalCache()
            )
            self._owns_cache = True
        else:
            self._owns_cache = False
        self.cache = cache
        self.engine = create_engine(url, pool_size=pool_size)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # A streaming read replica for anonymous public reads (``ReadSession``); PostgreSQL only.
        self.replica: Database | None = None
        if settings is not None and settings.database_replica_url and not self.is_sqlite:
            self.replica = Database(
                settings.database_replica_url, pool_size=pool_size, cache=self.cache
            )

    @classmethod
    def from_settings(cls, settings: Settings, *, cache: Cache | None = None) -> Database:
        return cls(
            settings.database_url,
            pool_size=settings.database_pool_size,
            settings=settings,
            cache=cache,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on normal exit and rolled back on error."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                session.info.pop(_CHANGED, None)
                await session.rollback()
                raise
            # Committed: before the answer is sent, no node serves a cached answer from before
            # (fastapi-users' own commits are covered by this last one).
            if session.info.pop(_CHANGED, False):
                await self.cache.changed()

    async def dispose(self) -> None:
        if self.replica is not None:
            await self.replica.dispose()
        await self.engine.dispose()
        if self._owns_cache:
            await self.cache.close()


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_database(request).transaction() as session:
        yield session


# scope="function": the commit runs when the route function returns, before the response is sent,
# so a 2xx always means the data is durable.
DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]


_log = logging.getLogger(__name__)
# A streaming replica's replay lag in seconds, as every public read decides by it (here and the
# certificate lookup's ReplicaRouter): 0 when all the WAL received is replayed (an idle primary
# writes nothing, so the last replay's age alone would read as lag), but only while a WAL receiver
# is connected to the primary: a replica cut off from it has also replayed all it received, and
# nothing says how old that is, so it counts as lagging without bound (1e9). (The receiver notices
# a silent network cut after the replica's wal_receiver_timeout; docs/deploy.md.) Every role may
# see whether pg_stat_wal_receiver has a row; its details need pg_read_all_stats.
REPLICA_LAG_SQL = (
    "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver) THEN 1e9 "
    "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 1e9) END"
)
_REPLICA_LAG = text(REPLICA_LAG_SQL)
_ON_REPLICA = "gongzhi.on_replica"


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for anonymous public reads: on the read replica when one is configured, up and
    within ``database_replica_max_lag_seconds``; else on the primary. Never for anything a user
    has just written and reads back (read-your-writes stays on ``DbSession``)."""
    database = get_database(request)
    replica, settings = database.replica, database.settings
    if replica is not None and settings is not None:
        session = replica.sessionmaker()
        try:
            lag = float((await session.execute(_REPLICA_LAG)).scalar_one())
        except (OSError, DBAPIError) as error:
            _log.warning("read replica unavailable, reading from the primary: %r", error)
            REPLICA_FALLBACKS.labels("unavailable").inc()
            lag = None
        if lag is not None and lag <= settings.database_replica_max_lag_seconds:
            session.info[_ON_REPLICA] = True
            request.scope[READ_ON_REPLICA] = True
            try:
                yield session
            finally:
                await session.close()  # read-only: nothing to commit
            return
        if lag is not None:
            REPLICA_FALLBACKS.labels("lagging").inc()
        await session.close()
    async with database.transaction() as primary:
        yield primary


ReadSession = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


def reads_replica(session: AsyncSession) -> bool:
    """Whether ``session`` reads the read replica, which may be a few seconds behind the primary.
    What it reads must not be kept in the cache: a write that committed on the primary has moved
    the cache's generation already, so an answer read here from before the write would be kept
    as current and served to everyone, the writer included, until it expires."""
    return bool(session.info.get(_ON_REPLICA))


T = TypeVar("T")

# The same choice of replica or primary outside a route's dependencies (a page that decides
# per request whether it needs a session at all).
_read_session = asynccontextmanager(get_read_session)


async def read_public(
    request: Request,
    read: Callable[[AsyncSession], Awaitable[T]],
    *,
    missing: type[Exception],
) -> T:
    """``read`` on the read replica when one is fresh, else on the primary. A row the replica
    does not have (``read`` raises ``missing`` there) may only not have arrived yet: it is read
    again on the primary before anyone is told it does not exist."""
    async with _read_session(request) as session:
        try:
            return await read(session)
        except missing:
            if not _on_replica(session, request):
                raise
    REPLICA_FALLBACKS.labels("not_found").inc()
    async with get_database(request).transaction() as session:
        return await read(session)


def _on_replica(session: AsyncSession, request: Request) -> bool:
    """Whether ``session`` (from ``_read_session``) reads the replica, not the primary: a row it
    does not find may only not have arrived there yet."""
    replica = get_database(request).replica
    return replica is not None and session.bind is replica.engine
