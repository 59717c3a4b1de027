"""The public lookup on a real streaming read replica (pg_basebackup -R of the test PostgreSQL,
started on a free port): reads go to the replica, a lagging replica never makes a new
certificate look forged nor a revoked one look valid past the bound, a replica down falls back
to the primary. Needs ``scripts/enable-pg-replication.sh`` (``make system-deps``)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import asyncpg
import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.certificates.reader import LookupReader, ReplicaRouter
from deploy.scaleout import PG_BIN, Replica, free_port
from portal.accounts.models import User
from portal.cache import READ_ON_REPLICA
from portal.db import Database, get_read_session, reads_replica
from portal.metrics import REPLICA_FALLBACKS
from portal.settings import Settings
from tests.api.certificates.support import Issue
from tests.api.certificates.test_stickers import _sticker_url as signed_sticker_url
from tests.support import REQUIRE_SERVICES


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"cannot start a streaming replica: {reason}")
    pytest.skip(f"cannot start a streaming replica: {reason}")


@pytest.fixture(scope="module")
def replica_port() -> Iterator[int]:
    """A streaming replica of the test PostgreSQL, as the loopback deployment starts one."""
    if not (PG_BIN / "pg_basebackup").exists() or shutil.which("runuser") is None:
        _unavailable(f"no {PG_BIN}/pg_basebackup or runuser")
    replica = Replica()
    try:
        try:
            replica.start()
        except RuntimeError as error:
            _unavailable(str(error))
        yield replica.port
    finally:
        replica.stop()


async def _caught_up(primary_url: str, replica_url: str) -> None:
    primary = await asyncpg.connect(primary_url)
    replica = await asyncpg.connect(replica_url)
    try:
        target = await primary.fetchval("select pg_current_wal_lsn()")
        for _ in range(200):
            if await replica.fetchval("select pg_last_wal_replay_lsn() >= $1", target):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("replica did not catch up in 10 s")
    finally:
        await primary.close()
        await replica.close()


async def read_session_port(config: Settings) -> int:
    """The port of the server a public read's session (get_read_session) is on."""
    database = Database.from_settings(config)
    request = SimpleNamespace(
        app=SimpleNamespace(state=SimpleNamespace(database=database)), scope={}
    )
    try:
        sessions = get_read_session(request)  # type: ignore[arg-type]
        session = await anext(sessions)
        port: int = (await session.execute(text("select inet_server_port()"))).scalar_one()
        # What may not be kept in the cache (credit/public.py): read on the replica.
        on_replica = port != make_url(config.database_url).port
        assert reads_replica(session) == on_replica
        assert request.scope.get(READ_ON_REPLICA, False) == on_replica  # nor the page cache
        await sessions.aclose()
        return port
    finally:
        await database.dispose()


def _fallbacks(reason: str) -> float:
    return REPLICA_FALLBACKS.labels(reason)._value.get()


async def test_public_lookup_on_a_streaming_replica(
    replica_port: int,
    client: httpx.AsyncClient,
    database: Database,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    if database.is_sqlite:
        pytest.skip("a streaming replica is PostgreSQL's")
    url = make_url(database.url)
    replica_url = url.set(port=replica_port).render_as_string(hide_password=False)
    plain_primary = url.set(drivername="postgresql").render_as_string(hide_password=False)
    plain_replica = url.set(drivername="postgresql", port=replica_port).render_as_string(
        hide_password=False
    )
    router = ReplicaRouter(
        LookupReader(database), LookupReader(database, url=replica_url), max_lag=1.0
    )
    replica_only = LookupReader(database, url=replica_url)

    async def status(reader: LookupReader | ReplicaRouter, number: str) -> str:
        body = await reader.certificate_json(number, institution=None, expiring_days=30)
        found: str = orjson.loads(body)["status"]
        return found

    try:
        await issue(number="R-1")
        await _caught_up(plain_primary, plain_replica)
        before = {r: _fallbacks(r) for r in ("not_found", "lagging", "unavailable")}
        assert await status(router, "R-1") == "valid"
        assert {r: _fallbacks(r) for r in before} == before  # answered by the replica

        # Replay paused: the replica stops at this point while the primary moves on.
        paused = await asyncpg.connect(plain_replica)
        await paused.execute("select pg_wal_replay_pause()")
        token = (await issue(number="R-2"))["instrument"]["sticker_token"]
        assert await status(router, "R-2") == "valid"  # not on the replica: asked the primary
        assert _fallbacks("not_found") == before["not_found"] + 1
        # the sticker page's read: the same fallback, a new sticker never looks forged
        assert (await router.instrument(token, expiring_days=30)).status == "valid"
        assert _fallbacks("not_found") == before["not_found"] + 2

        headers = await auth_headers(institution_user)
        revoked = await client.post(
            "/api/v1/certificates/R-1/revoke", json={"reason": "误发"}, headers=headers
        )
        assert revoked.status_code == 200, revoked.text
        await asyncio.sleep(1.6)  # past the 1 s bound and the lag reading's half second
        assert await status(replica_only, "R-1") == "valid"  # the replica is behind...
        assert await status(router, "R-1") == "revoked"  # ...so the primary answers
        assert _fallbacks("lagging") > before["lagging"]

        await paused.execute("select pg_wal_replay_resume()")
        await paused.close()
        await _caught_up(plain_primary, plain_replica)
        await asyncio.sleep(0.6)
        lagging = _fallbacks("lagging")
        assert await status(router, "R-1") == "revoked"
        assert _fallbacks("lagging") == lagging  # caught up: the replica answers again
    finally:
        await router.aclose()
        await replica_only.aclose()

    # Replica down (a port nothing listens on): the primary answers, nothing fails.
    down = ReplicaRouter(
        LookupReader(database),
        LookupReader(database, url=url.set(port=free_port()).render_as_string(False)),
        max_lag=1.0,
    )
    try:
        unavailable = _fallbacks("unavailable")
        assert await status(down, "R-2") == "valid"
        assert _fallbacks("unavailable") == unavailable + 1
    finally:
        await down.aclose()


async def test_read_session_on_the_replica(replica_port: int, settings: Settings) -> None:
    """``ReadSession`` (credit's public pages and API): the replica when fresh, the primary when
    replay lags past the bound or the replica is down."""
    if settings.is_sqlite:
        pytest.skip("a streaming replica is PostgreSQL's")
    url = make_url(settings.database_url)
    on_replica = settings.model_copy(
        update={
            "database_replica_url": url.set(port=replica_port).render_as_string(False),
            "database_replica_max_lag_seconds": 1.0,
        }
    )
    plain_replica = url.set(drivername="postgresql", port=replica_port).render_as_string(False)

    # A replica in its steady state: a fresh one is still replaying the WAL of its base backup.
    await _caught_up(url.set(drivername="postgresql").render_as_string(False), plain_replica)
    assert await read_session_port(on_replica) == replica_port
    paused = await asyncpg.connect(plain_replica)
    try:
        await paused.execute("select pg_wal_replay_pause()")
        primary = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
        await primary.execute("create temp table t(x int); drop table t")  # WAL to fall behind on
        await primary.execute("select txid_current()")
        await primary.close()
        await asyncio.sleep(1.5)
        assert await read_session_port(on_replica) == url.port  # lagging: the primary
    finally:
        await paused.execute("select pg_wal_replay_resume()")
        await paused.close()
    down = settings.model_copy(
        update={"database_replica_url": url.set(port=free_port()).render_as_string(False)}
    )
    assert await read_session_port(down) == url.port  # replica down: the primary


@dataclass
class AppReplica:
    """The app's database with the streaming replica attached (``ReadSession``, ``read_public``
    and the signed sticker page read it), and plain URLs of both ends for asyncpg."""

    primary: str
    replica: str


@pytest.fixture
async def app_replica(replica_port: int, database: Database) -> AsyncIterator[AppReplica]:
    if database.is_sqlite:
        pytest.skip("a streaming replica is PostgreSQL's")
    url = make_url(database.url)
    database.replica = Database(url.set(port=replica_port).render_as_string(False))
    try:
        yield AppReplica(
            primary=url.set(drivername="postgresql").render_as_string(hide_password=False),
            replica=url.set(drivername="postgresql", port=replica_port).render_as_string(False),
        )
    finally:
        replica, database.replica = database.replica, None
        await replica.dispose()


async def test_signed_sticker_page_on_the_replica(
    app_replica: AppReplica,
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    """A signed sticker's page reads the trust list and the certificate on the replica; one the
    replica has not received yet is verified on the primary, never shown as forged or unknown."""
    headers = await auth_headers(institution_user)
    await issue(number="RS-1")
    first = await signed_sticker_url(client, "RS-1", headers)
    await _caught_up(app_replica.primary, app_replica.replica)
    before = _fallbacks("not_found")
    page = await client.get(first.replace("http://testserver", ""))
    assert 'data-status="valid"' in page.text
    assert "防伪签名有效" in page.text
    assert _fallbacks("not_found") == before  # the replica answered

    paused = await asyncpg.connect(app_replica.replica)
    try:
        await paused.execute("select pg_wal_replay_pause()")
        await issue(number="RS-2")
        second = await signed_sticker_url(client, "RS-2", headers)
        page = await client.get(second.replace("http://testserver", ""))
        assert page.status_code == 200
        assert 'data-status="valid"' in page.text  # not on the replica: the primary said so
        assert "防伪签名有效" in page.text
        assert _fallbacks("not_found") == before + 1
    finally:
        await paused.execute("select pg_wal_replay_resume()")
        await paused.close()


async def test_public_notice_reads_on_the_replica(
    app_replica: AppReplica,
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    """An enforcement notice (API and page) is read on the replica; one published after the
    replica stopped replaying is found on the primary, never a 404 because of replication."""
    from portal.accounts.models import Role
    from tests.notices.test_api import notice_payload

    headers = await auth_headers(await make_user(Role.regulator, region="610400"))
    first = await client.post(
        "/api/v1/notices",
        json=notice_payload(decision_number="咸市监处罚〔2026〕901号"),
        headers=headers,
    )
    assert first.status_code == 201, first.text
    await _caught_up(app_replica.primary, app_replica.replica)
    before = _fallbacks("not_found")
    assert (await client.get(f"/api/v1/notices/{first.json()['id']}")).status_code == 200
    assert (await client.get(f"/notices/{first.json()['id']}")).status_code == 200
    assert _fallbacks("not_found") == before  # the replica answered both

    paused = await asyncpg.connect(app_replica.replica)
    try:
        await paused.execute("select pg_wal_replay_pause()")
        second = await client.post(
            "/api/v1/notices",
            json=notice_payload(decision_number="咸市监处罚〔2026〕902号"),
            headers=headers,
        )
        assert second.status_code == 201, second.text
        shown = await client.get(f"/api/v1/notices/{second.json()['id']}")
        assert shown.status_code == 200, shown.text
        page = await client.get(f"/notices/{second.json()['id']}")
        assert page.status_code == 200
        assert _fallbacks("not_found") == before + 2
    finally:
        await paused.execute("select pg_wal_replay_resume()")
        await paused.close()


async def _receiving(replica_url: str, connected: bool) -> None:
    """Wait until the replica's WAL receiver is (or is no longer) running. A receiver started
    again waits for the startup process's next retry (wal_retrieve_retry_interval, 5 s) and, on
    a loaded machine, for its connection: in one CI run 30 s were not enough, so a minute."""
    replica = await asyncpg.connect(replica_url)
    try:
        for _ in range(600):
            if (
                await replica.fetchval("select count(*) from pg_stat_wal_receiver") > 0
            ) is connected:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"the WAL receiver did not {'start' if connected else 'stop'}")
    finally:
        await replica.close()


async def test_a_replica_cut_off_from_its_primary_is_not_taken_for_fresh(
    replica_port: int,
    client: httpx.AsyncClient,
    database: Database,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    settings: Settings,
) -> None:
    """A replica that has lost its connection to the primary (network, the primary restarted,
    replication refused) has replayed all it received, so "received = replayed" read as no lag at
    all: it went on answering, unbounded in time, with whatever it had — a certificate revoked
    since was shown valid for as long as the cut lasted. Without a WAL receiver nothing says how
    old the replica is: the primary answers, for the lookup and for every ``ReadSession``."""
    if database.is_sqlite:
        pytest.skip("a streaming replica is PostgreSQL's")
    url = make_url(database.url)
    replica_url = url.set(port=replica_port).render_as_string(hide_password=False)
    plain_primary = url.set(drivername="postgresql").render_as_string(hide_password=False)
    plain_replica = url.set(drivername="postgresql", port=replica_port).render_as_string(False)
    router = ReplicaRouter(
        LookupReader(database), LookupReader(database, url=replica_url), max_lag=1.0
    )
    replica_only = LookupReader(database, url=replica_url)
    on_replica = settings.model_copy(
        update={"database_replica_url": replica_url, "database_replica_max_lag_seconds": 1.0}
    )
    admin = await asyncpg.connect(plain_replica)
    conninfo = await admin.fetchval("show primary_conninfo")

    async def status(reader: LookupReader | ReplicaRouter, number: str) -> str:
        body = await reader.certificate_json(number, institution=None, expiring_days=30)
        found: str = orjson.loads(body)["status"]
        return found

    try:
        await issue(number="CUT-1")
        await _caught_up(plain_primary, plain_replica)
        assert await read_session_port(on_replica) == replica_port
        await admin.execute("alter system set primary_conninfo = ''")
        await admin.execute("select pg_reload_conf()")
        await _receiving(plain_replica, connected=False)
        revoked = await client.post(
            "/api/v1/certificates/CUT-1/revoke",
            json={"reason": "误发"},
            headers=await auth_headers(institution_user),
        )
        assert revoked.status_code == 200, revoked.text
        await asyncio.sleep(1.6)  # past the 1 s bound and the lag reading's half second
        assert await status(replica_only, "CUT-1") == "valid"  # the replica never heard...
        assert await status(router, "CUT-1") == "revoked"  # ...so the primary answers
        assert await read_session_port(on_replica) == url.port
    finally:
        await admin.execute(
            f"alter system set primary_conninfo = '{conninfo.replace(chr(39), chr(39) * 2)}'"
        )
        await admin.execute("select pg_reload_conf()")
        await admin.close()
        await router.aclose()
        await replica_only.aclose()
    await _receiving(plain_replica, connected=True)
    await _caught_up(plain_primary, plain_replica)
