"""``gongzhi``: the command line. Every command reads the same ``GONGZHI_*`` settings as the server,
so ``GONGZHI_DATABASE_URL=postgresql+asyncpg://… gongzhi db upgrade`` works on any database."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from portal import domains
from portal.accounts.models import OrganizationKind, Role
from portal.db import Database
from portal.settings import Settings, get_settings, trusted_networks

app = typer.Typer(help="共治 Gongzhi: metrology co-governance portal.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(
    help="Verification institutions and industry associations.", no_args_is_help=True
)
user_app = typer.Typer(help="Accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
keys_app = typer.Typer(help="Keys for personal data at rest.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.callback()
def _configure() -> None:
    from portal import clock, crypto, workdays
    from portal.settings import Environment
    from portal.workdays.settings import CalendarSettings

    settings = get_settings()
    clock.start_from_environment(production=settings.env is Environment.production)
    crypto.configure(settings)
    workdays.configure(unknown_year=settings.of(CalendarSettings).calendar_unknown_year)


@keys_app.command("generate")
def keys_generate(
    key_id: Annotated[str, typer.Argument(help="Id of the new key, e.g. k2.")],
) -> None:
    """Print a new data key entry to put first in GONGZHI_DATA_KEYS."""
    import base64
    import os

    typer.echo(f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}")


@keys_app.command("reencrypt")
def keys_reencrypt() -> None:
    """Rewrite all encrypted personal data under the current (first) key of GONGZHI_DATA_KEYS."""
    from portal.crypto import reencrypt_all
    from portal.db import metadata

    domains.import_models()

    async def run() -> int:
        database = Database.from_settings(get_settings())
        try:
            return await reencrypt_all(database, metadata)
        finally:
            await database.dispose()

    typer.echo(f"重新加密 / re-encrypted: {asyncio.run(run())}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
) -> None:
    """Serve the portal and the API."""
    import uvicorn

    settings = get_settings()
    if workers > 1 and not settings.shares_rate_limits:
        typer.echo(
            f"错误 / error: --workers {workers} with GONGZHI_RATE_LIMIT_STORAGE="
            f"{settings.rate_limit_storage}: each process would keep its own rate-limit counters, "
            "multiplying every limit. Use a shared store, e.g. redis://127.0.0.1:6379.",
            err=True,
        )
        raise typer.Exit(code=2)
    if workers > 1 and not settings.shares_cache:
        typer.echo(
            f"错误 / error: --workers {workers} with GONGZHI_CACHE_URL={settings.cache_url}: each "
            "process would keep its own cached pages, and a write seen by one would not reach "
            "the others. Use a shared cache, e.g. redis://127.0.0.1:6379.",
            err=True,
        )
        raise typer.Exit(code=2)
    made = _share_metrics() if workers > 1 else None
    try:
        uvicorn.run(
            **uvicorn_options(settings, host=host, port=port, workers=workers, reload=reload)
        )
    finally:
        if made is not None:  # ours, not the operator's: gone with the server
            shutil.rmtree(made, ignore_errors=True)


def _share_metrics() -> str | None:
    """Make every worker keep its metrics where any worker answering /metrics adds them up
    (portal/metrics.py). Set before the workers start: prometheus-client chooses where values
    live when it is first imported, and the workers import it afresh. Returns the directory when
    it was made here (none given in PROMETHEUS_MULTIPROC_DIR), for the caller to remove."""
    import os
    import tempfile

    from portal.metrics import MULTIPROC_ENV, prepare_multiprocess_dir

    given = os.environ.get(MULTIPROC_ENV)
    directory = given or tempfile.mkdtemp(prefix="gongzhi-metrics-")
    prepare_multiprocess_dir(directory)
    os.environ[MULTIPROC_ENV] = directory
    return None if given else directory


def uvicorn_options(
    settings: Settings, *, host: str, port: int, workers: int, reload: bool
) -> dict[str, Any]:
    trusted = [str(network) for network in trusted_networks(settings.trusted_proxies)]
    return {
        "app": "portal.main:app",
        "host": host,
        "port": port,
        "workers": workers,
        "reload": reload,
        # X-Forwarded-For only from GONGZHI_TRUSTED_PROXIES (portal.ratelimit.client_ip applies
        # the same list). Never uvicorn's default, which believes any process on 127.0.0.1.
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or [],
        # Idle keep-alive connections outlive the client's (and a proxy's) so the server is never
        # the side that closes a connection a client is about to reuse.
        "timeout_keep_alive": settings.keep_alive_seconds,
        "log_level": "warning",
        "access_log": False,  # the app writes its own structured access log with request ids
        # The standard library's event loop, not uvloop: with more requests than one process
        # can answer at once, uvloop served some connections far later than others. A bare
        # FastAPI endpoint costing 0.5 ms, 64 connections (wrk): p50 40 ms under both loops, p99
        # 867 ms under uvloop against 48 ms; the sticker page without the page cache 704 → 46 ms
        # (bench/pages.py, README "Public pages under load").
        "loop": "asyncio",
    }


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "heads",
) -> None:
    """Apply migrations (creates the schema on an empty database)."""
    from portal.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"数据库已升级 / database upgraded: {settings.database_url.split('@')[-1]}")


@app.command()
def demo() -> None:
    """Load demo data (institutions, instruments, users of every role). Safe to run twice.
    Refused in production: the demo accounts' password is published in the README."""
    from portal.demo import load_demo
    from portal.settings import Environment

    settings = get_settings()
    if settings.env is Environment.production:
        typer.echo(
            "错误 / error: 生产环境不能加载演示数据（演示账号的密码是公开的）。 / demo data is "
            "refused in production: its accounts use the published demo password.",
            err=True,
        )
        raise typer.Exit(code=2)
    created = asyncio.run(load_demo(settings))
    typer.echo(
        "演示数据已加载 / demo data loaded" if created else "演示数据已存在 / already loaded"
    )


@app.command()
def backup(
    directory: Annotated[
        Path, typer.Argument(help="A new (or empty) directory to write the backup into.")
    ],
) -> None:
    """Back up the database and every stored file (with SHA-256) into DIRECTORY. Secrets (the
    signing key file, GONGZHI_SECRET_KEY, GONGZHI_DATA_KEYS) are not in it: keep them apart."""
    from portal.backup.service import close_file_stores, create_backup, summary

    async def run() -> str:
        started = time.perf_counter()
        try:
            report = await create_backup(get_settings(), directory)
        finally:
            await close_file_stores(get_settings())
        return (
            f"备份完成 / backup written to {report.directory} in "
            f"{time.perf_counter() - started:.1f} s: {summary(report.manifest)}"
        )

    typer.echo(_run_or_exit(run()))


@app.command()
def restore(
    directory: Annotated[Path, typer.Argument(help="A directory written by `gongzhi backup`.")],
    check: Annotated[
        bool, typer.Option("--check", help="Only verify the backup against its manifest.")
    ] = False,
) -> None:
    """Restore a backup into this deployment, which must be empty: a new database (no tables,
    `gongzhi db upgrade` not run) and empty file stores, with the backed-up signing key file in
    place. Everything is verified before anything is written; a failure leaves it empty."""
    from portal.backup.restore import check_backup, check_signature, restore_backup
    from portal.backup.service import close_file_stores, summary

    async def run() -> str:
        settings = get_settings()
        try:
            return await restore_or_check(settings)
        finally:
            await close_file_stores(settings)

    async def restore_or_check(settings: Settings) -> str:
        if check:
            manifest = await asyncio.to_thread(check_backup, settings, directory)
            signed = check_signature(settings, directory, manifest)
            return (
                f"备份完好 / backup verified ("
                f"{'signature verified' if signed else 'signature not checked: not this key'}"
                f"): {summary(manifest)}"
            )
        started = time.perf_counter()
        report = await restore_backup(settings, directory)
        return (
            f"恢复完成 / restored {report.files} files and the database in "
            f"{time.perf_counter() - started:.1f} s: "
            f"{summary(report.manifest)}. Next: gongzhi db upgrade; gongzhi search reindex."
        )

    typer.echo(_run_or_exit(run()))


@org_app.command("create")
def org_create(
    kind: Annotated[OrganizationKind, typer.Option(help="institution or association")],
    code: Annotated[str, typer.Option(help="Organisation code (unique).")],
    name: Annotated[str, typer.Option(help="Full name.")],
    region: Annotated[str, typer.Option(help="GB/T 2260 region code, e.g. 610400.")],
    authorisation_number: Annotated[str | None, typer.Option(help="计量授权证书号")] = None,
    industry: Annotated[str | None, typer.Option(help="Industry scope (associations).")] = None,
) -> None:
    """Create a verification institution or an industry association."""
    from portal.accounts.schemas import OrganizationCreate
    from portal.accounts.service import create_organization

    data = OrganizationCreate(
        kind=kind,
        code=code,
        name=name,
        region_code=region,
        authorisation_number=authorisation_number,
        industry=industry,
    )

    async def run() -> str:
        database = Database.from_settings(get_settings())
        try:
            async with database.transaction() as session:
                org = await create_organization(session, data, actor=None)
                return str(org.id)
        finally:
            await database.dispose()

    typer.echo(_run_or_exit(run()))


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Login e-mail.")],
    password: Annotated[str, typer.Option(help="Initial password (8+ characters).")],
    role: Annotated[Role, typer.Option(help="Role.")],
    region: Annotated[str, typer.Option(help="GB/T 2260 region code.")],
    org: Annotated[
        str | None, typer.Option(help="Organisation code (institution/association).")
    ] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Create an account of any role (staff accounts are never self-registered)."""
    from portal.accounts.schemas import StaffUserCreate
    from portal.accounts.service import create_staff_user

    data = StaffUserCreate(
        email=email,
        password=password,
        role=role,
        region_code=region,
        organization_code=org,
        display_name=name,
    )

    async def run() -> str:
        database = Database.from_settings(get_settings())
        try:
            async with database.transaction() as session:
                user = await create_staff_user(session, data, actor=None)
                return str(user.id)
        finally:
            await database.dispose()

    typer.echo(_run_or_exit(run()))


@app.command()
def worker() -> None:
    """Run the outbox worker as its own process (production); stops on SIGTERM or Ctrl-C."""
    from portal.middleware import configure_logging
    from portal.outbox.worker import OutboxWorker
    from portal.workdays import service as calendar_service
    from portal.workdays.settings import CalendarSettings

    settings = get_settings()
    configure_logging(json_lines=settings.log_json)  # as the server does: one log format
    domains.import_models()
    domains.import_jobs()
    calendar = settings.of(CalendarSettings)

    async def run() -> None:
        database = Database.from_settings(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # Jobs count working days too: the same imported notices as the servers, kept fresh.
        calendar_task = await calendar_service.start(
            database, stop, every=calendar.calendar_refresh_seconds
        )
        try:
            await OutboxWorker(
                database,
                max_attempts=settings.outbox_max_attempts,
                lease=timedelta(seconds=settings.outbox_lease_seconds),
            ).run_forever(stop, poll_seconds=settings.worker_poll_seconds)
        finally:
            stop.set()
            await calendar_task
            await database.dispose()

    asyncio.run(run())


def _run_or_exit(coro: Coroutine[Any, Any, str]) -> str:
    from portal.errors import GongzhiError

    try:
        return asyncio.run(coro)
    except GongzhiError as exc:
        typer.echo(f"错误 / error [{exc.code}]: {exc.detail_zh} / {exc.detail}", err=True)
        raise typer.Exit(code=1) from exc


for _domain, _module in domains.modules("cli"):
    app.add_typer(_module.app, name=_module.NAME)
    # A domain may add further groups: EXTRA_GROUPS = {"name": typer_app}.
    for _name, _group in getattr(_module, "EXTRA_GROUPS", {}).items():
        app.add_typer(_group, name=_name)
