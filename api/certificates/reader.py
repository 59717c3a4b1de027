"""The hot path of the public lookup: ``GET /api/v1/certificates/{number}``.

The query is the one in api/certificates/queries.py (``BY_NUMBER``), compiled once per dialect
here and run straight on the driver, and the document is built by the same
``certificate_document`` the service uses, from plain tuples; at this request rate the ORM
session, SQLAlchemy's result machinery and a Pydantic model per request cost more than the query.

- SQLite: a read-only ``sqlite3`` connection per process, queried on the event loop thread. A
  point read on an index takes tens of microseconds, less than handing the query to a thread
  (what aiosqlite does for every call).
- PostgreSQL: a small asyncpg pool of its own (no pre-ping, no reset round trips), created on
  first use and closed with the app (``app.state.shutdown_hooks``); asyncpg prepares and caches
  the statement per connection. Lookups by number that arrive while others are on their way to
  the server go together in one ``number = ANY($1)`` query (``Coalescer``): in a burst of scans
  the server and the driver do one statement's work for many requests, and a lone request still
  leaves at once.

tests/api/certificates checks that the fast path and ``lookup.lookup_certificate`` give the same
document for every status.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url

from api.certificates.errors import CertificateNotFound, InstrumentNotFound
from api.certificates.lookup import (
    ambiguous,
    certificate_read,
    instrument_not_found,
    instrument_read,
    not_found,
)
from api.certificates.numbers import NUMBER_MAX_LENGTH, normalize_number, storable_number
from api.certificates.queries import (
    BY_ID,
    BY_NUMBER,
    BY_NUMBER_AND_INSTITUTION,
    BY_NUMBERS,
    CURRENT_CERTIFICATE_ID,
    ID,
    INSTITUTION_CODE,
    INSTRUMENT_BY_TOKEN,
    LOOKUP_LIMIT,
    NUMBER,
    certificate_document,
    today_local,
)
from api.certificates.schemas import CertificateRead, InstrumentRead
from portal.db import REPLICA_LAG_SQL, Database
from portal.errors import UnstorableValue
from portal.metrics import REPLICA_FALLBACKS


@dataclass(frozen=True)
class CompiledQuery:
    """A select compiled for one driver: its SQL text and how to order its parameters."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]

    @classmethod
    def of(cls, stmt: Any, dialect: Dialect) -> CompiledQuery:
        compiled = stmt.compile(dialect=dialect)
        return cls(str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params))

    def args(self, **values: Any) -> list[Any]:
        merged = {**self.fixed, **values}
        return [merged[name] for name in self.names]


def _compile(dialect: Dialect) -> tuple[CompiledQuery, CompiledQuery]:
    return CompiledQuery.of(BY_NUMBER, dialect), CompiledQuery.of(
        BY_NUMBER_AND_INSTITUTION, dialect
    )


_SQLITE = sqlite.dialect(paramstyle="qmark")
_POSTGRES = postgresql.asyncpg.dialect(paramstyle="numeric_dollar")
SQLITE_QUERIES = _compile(_SQLITE)
POSTGRES_QUERIES = _compile(postgresql.asyncpg.dialect(paramstyle="numeric_dollar"))
# The sticker page's two queries, for each driver.
_INSTRUMENT_BY_TOKEN = (
    CompiledQuery.of(INSTRUMENT_BY_TOKEN, _SQLITE),
    CompiledQuery.of(INSTRUMENT_BY_TOKEN, _POSTGRES),
)
_BY_ID = (CompiledQuery.of(BY_ID, _SQLITE), CompiledQuery.of(BY_ID, _POSTGRES))
POSTGRES_BY_NUMBERS = CompiledQuery.of(
    BY_NUMBERS, postgresql.asyncpg.dialect(paramstyle="numeric_dollar")
)

Rows = list[tuple[Any, ...]]


class Coalescer:
    """Lookups by number gathered into batches: at most ``max_in_flight`` queries run at once,
    and numbers asked for meanwhile wait for the next one, all together (up to ``max_batch``).

    A request arriving when a slot is free leaves on the next turn of the event loop with
    whatever else arrived in the same turn, so an idle server adds no wait. Under load the
    batches grow by themselves: one statement, one round trip and one pool checkout serve them
    all. The same number asked twice in a batch is queried once. A failed query fails every
    request of its batch with the same error (the route renders it as it would its own).
    """

    def __init__(
        self,
        fetch_many: Callable[[Sequence[str]], Awaitable[Rows]],
        *,
        max_in_flight: int = 2,
        max_batch: int = 64,
    ) -> None:
        self._fetch_many = fetch_many
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._pending: dict[str, list[asyncio.Future[Rows]]] = {}
        self._in_flight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def rows(self, number: str) -> asyncio.Future[Rows]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Rows] = loop.create_future()
        self._pending.setdefault(number, []).append(future)
        self._schedule(loop)
        return future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._scheduled and self._in_flight < self._max_in_flight:
            self._scheduled = True
            loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._scheduled = False
        while self._pending and self._in_flight < self._max_in_flight:
            batch: dict[str, list[asyncio.Future[Rows]]] = {}
            while self._pending and len(batch) < self._max_batch:
                number = next(iter(self._pending))
                batch[number] = self._pending.pop(number)
            self._in_flight += 1
            task = asyncio.ensure_future(self._run(batch))
            self._tasks.add(task)  # a reference, so the task is not collected mid-flight
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: dict[str, list[asyncio.Future[Rows]]]) -> None:
        try:
            rows = await self._fetch_many(list(batch))
        except Exception as exc:
            for waiters in batch.values():
                for future in waiters:
                    if not future.done():  # a client that went away cancelled its own
                        future.set_exception(exc)
        else:
            by_number: dict[str, Rows] = {}
            for row in rows:
                by_number.setdefault(row[NUMBER], []).append(row)
            for number, waiters in batch.items():
                found = by_number.get(number, [])
                for future in waiters:
                    if not future.done():
                        future.set_result(found)
        finally:
            self._in_flight -= 1
            if self._pending:
                self._schedule(asyncio.get_running_loop())

    async def aclose(self) -> None:
        """Wait for the batches on their way (the pool closes after them)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _no_reset(connection: Any) -> None:
    """The reader only runs SELECTs and changes no session state, so the default reset query
    (one more round trip per request) is not needed."""


class LookupReader:
    def __init__(self, database: Database, *, pool_size: int = 10, url: str | None = None) -> None:
        self.database = database
        self._sqlite: sqlite3.Connection | None = None
        self._pool: Any = None
        self._pool_lock = asyncio.Lock()
        self._pool_size = pool_size
        self._coalescer = Coalescer(self._fetch_many)
        # ``url``: a read replica of ``database`` (``ReplicaRouter``); else the database itself.
        parsed = make_url(url or database.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._path = parsed.database
        self._dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)

    async def _pg_pool(self) -> Any:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    import asyncpg

                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=1,
                        max_size=self._pool_size,
                        reset=_no_reset,
                        # The statement is prepared once per connection (asyncpg's cache); a
                        # generic plan never re-plans the six-table join (planning it took 1.7 ms
                        # against 0.27 ms to execute on the bench database). The number is
                        # selective enough that the generic plan is the index plan.
                        server_settings={"plan_cache_mode": "force_generic_plan"},
                    )
        return self._pool

    def _sqlite_connection(self) -> sqlite3.Connection:
        if self._sqlite is None:
            connection = sqlite3.connect(self._path or ":memory:", check_same_thread=False)
            connection.execute("PRAGMA query_only=ON")
            connection.execute("PRAGMA busy_timeout=1000")
            # Random point reads over a large file: map it and keep hot pages in process.
            connection.execute("PRAGMA mmap_size=1073741824")
            connection.execute("PRAGMA cache_size=-65536")
            self._sqlite = connection
        return self._sqlite

    async def rows(self, number: str, institution: str | None) -> list[tuple[Any, ...]]:
        by_number, by_institution = SQLITE_QUERIES if self.is_sqlite else POSTGRES_QUERIES
        if institution:
            query, args = (
                by_institution,
                by_institution.args(number=number, institution=institution),
            )
        else:
            query, args = by_number, by_number.args(number=number)
        if self.is_sqlite:
            return self._sqlite_connection().execute(query.sql, args).fetchall()
        if not institution:
            return await self._coalescer.rows(number)
        pool = await self._pg_pool()
        return [tuple(r) for r in await pool.fetch(query.sql, *args)]

    async def _fetch(
        self, sqlite_query: CompiledQuery, pg_query: CompiledQuery, **values: Any
    ) -> Rows:
        if self.is_sqlite:
            args = sqlite_query.args(**values)
            return self._sqlite_connection().execute(sqlite_query.sql, args).fetchall()
        pool = await self._pg_pool()
        return [tuple(r) for r in await pool.fetch(pg_query.sql, *pg_query.args(**values))]

    async def instrument(self, token: str, *, expiring_days: int) -> InstrumentRead:
        """The sticker page's instrument and current certificate (``lookup.get_instrument`` on
        the driver: the same two queries and the same document)."""
        found = await self._fetch(*_INSTRUMENT_BY_TOKEN, token=token)
        if not found:
            raise instrument_not_found()
        row = found[0]
        current = row[CURRENT_CERTIFICATE_ID]
        rows = await self._fetch(*_BY_ID, id=current) if current is not None else []
        return instrument_read(row, rows, today=today_local(), expiring_days=expiring_days)

    async def _fetch_many(self, numbers: Sequence[str]) -> Rows:
        pool = await self._pg_pool()
        query = POSTGRES_BY_NUMBERS
        args = query.args(numbers=list(numbers), limit=LOOKUP_LIMIT * len(numbers))
        return [tuple(r) for r in await pool.fetch(query.sql, *args)]

    async def _certificate_rows(self, number: str, institution: str | None) -> Rows:
        """One certificate's rows by number as typed, or the lookup's not-found or ambiguous."""
        # the one normal form (api/certificates/numbers.py): a few microseconds, no round trip
        number = normalize_number(number)
        if "\x00" in number and not self.is_sqlite:
            # Answered before the query: in a batch (``Coalescer``) the driver's error for it
            # would fail every lookup that went with it. SQLite holds the character like any
            # other, so there the lookup simply finds nothing.
            raise UnstorableValue(
                "The request contains a character or value that cannot be stored "
                "(for example a NUL character).",
                detail_zh="提交的内容含有无法保存的字符或数值（例如空字符），请检查后重新提交。",
            )
        if not storable_number(number):
            # Longer than any stored number: not found without a query.
            raise not_found(number[:NUMBER_MAX_LENGTH])
        rows = await self.rows(number, institution)
        if not rows:
            raise not_found(number)
        if rows[0][ID] != rows[-1][ID]:
            raise ambiguous(number, [r[INSTITUTION_CODE] for r in rows])
        return rows

    async def certificate_json(
        self, number: str, *, institution: str | None, expiring_days: int
    ) -> bytes:
        rows = await self._certificate_rows(number, institution)
        document = certificate_document(rows, today=today_local(), expiring_days=expiring_days)
        # the same bytes as json.dumps(ensure_ascii=False, separators=(",", ":")), faster
        return orjson.dumps(document)

    async def certificate(
        self, number: str, *, institution: str | None, expiring_days: int
    ) -> CertificateRead:
        """``lookup.lookup_certificate`` on the driver: the lookup page's certificate."""
        rows = await self._certificate_rows(number, institution)
        return certificate_read(rows, today=today_local(), expiring_days=expiring_days)

    async def aclose(self) -> None:
        await self._coalescer.aclose()
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


# What says the replica cannot answer now: it is down, restarting or refusing connections.
_UNAVAILABLE: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError)
try:
    import asyncpg as _asyncpg

    _UNAVAILABLE += (
        _asyncpg.PostgresConnectionError,
        _asyncpg.CannotConnectNowError,
        _asyncpg.InterfaceError,
    )
except ImportError:  # pragma: no cover - asyncpg is a dependency; SQLite-only installs lack it
    pass

# How long one lag reading is trusted: one query per half second, not one per lookup.
_LAG_CHECK_SECONDS = 0.5
_log = logging.getLogger(__name__)


class ReplicaRouter:
    """The public lookup's reads on a streaming read replica (``GONGZHI_DATABASE_REPLICA_URL``),
    with the primary as the authority whenever the replica could mislead:

    - not found on the replica: asked again on the primary before answering 404, so a
      certificate issued a moment ago never looks forged;
    - replay lag above ``database_replica_max_lag_seconds``: the primary answers, so a
      revocation is shown as valid for at most that long;
    - replica down: the primary answers (logged, counted in ``gongzhi_db_replica_fallbacks``).
    """

    def __init__(self, primary: LookupReader, replica: LookupReader, max_lag: float) -> None:
        self.database = primary.database
        self.primary = primary
        self.replica = replica
        self.max_lag = max_lag
        self._lag_checked = -1e9
        self._lag_ok = False

    async def _replica_fresh(self) -> bool:
        now = time.monotonic()
        if now - self._lag_checked >= _LAG_CHECK_SECONDS:
            pool = await self.replica._pg_pool()
            lag = float(await pool.fetchval(REPLICA_LAG_SQL))
            self._lag_ok = lag <= self.max_lag
            self._lag_checked = now
        return self._lag_ok

    async def _route(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            if not await self._replica_fresh():
                REPLICA_FALLBACKS.labels("lagging").inc()
                return await call(self.primary, *args, **kwargs)
            return await call(self.replica, *args, **kwargs)
        except (CertificateNotFound, InstrumentNotFound):
            REPLICA_FALLBACKS.labels("not_found").inc()
            return await call(self.primary, *args, **kwargs)
        except _UNAVAILABLE as error:
            _log.warning("read replica unavailable, reading from the primary: %r", error)
            REPLICA_FALLBACKS.labels("unavailable").inc()
            self._lag_checked = -1e9  # look again next time
            return await call(self.primary, *args, **kwargs)

    async def instrument(self, token: str, *, expiring_days: int) -> InstrumentRead:
        result: InstrumentRead = await self._route(
            LookupReader.instrument, token, expiring_days=expiring_days
        )
        return result

    async def certificate_json(
        self, number: str, *, institution: str | None, expiring_days: int
    ) -> bytes:
        result: bytes = await self._route(
            LookupReader.certificate_json,
            number,
            institution=institution,
            expiring_days=expiring_days,
        )
        return result

    async def certificate(
        self, number: str, *, institution: str | None, expiring_days: int
    ) -> CertificateRead:
        result: CertificateRead = await self._route(
            LookupReader.certificate,
            number,
            institution=institution,
            expiring_days=expiring_days,
        )
        return result

    async def aclose(self) -> None:
        await self.replica.aclose()
        await self.primary.aclose()


def get_reader(app_state: Any) -> LookupReader | ReplicaRouter:
    """The app's reader, created on first use and closed with the app: on the read replica when
    one is configured (PostgreSQL only), else on the primary."""
    reader: LookupReader | ReplicaRouter | None = getattr(app_state, "certificate_reader", None)
    if reader is None or reader.database is not app_state.database:
        settings = app_state.settings
        pool_size = settings.database_pool_size
        primary = LookupReader(app_state.database, pool_size=pool_size)
        reader = primary
        if settings.database_replica_url and not primary.is_sqlite:
            replica = LookupReader(
                app_state.database, pool_size=pool_size, url=settings.database_replica_url
            )
            reader = ReplicaRouter(primary, replica, settings.database_replica_max_lag_seconds)
        app_state.certificate_reader = reader
        app_state.shutdown_hooks.append(reader.aclose)
    return reader
