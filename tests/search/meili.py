"""A real Meilisearch process for the tests: a free port, a temporary database, a master key."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
MEILI_VERSION = "1.21.0"


def find_binary() -> Path | None:
    explicit = os.environ.get("GONGZHI_MEILI_BINARY")
    candidates = [Path(explicit)] if explicit else []
    candidates += [
        ROOT / ".cache" / "meilisearch" / MEILI_VERSION / "meilisearch",
        ROOT / "var" / "bin" / "meilisearch",
    ]
    found = shutil.which("meilisearch")
    if found:
        candidates.append(Path(found))
    return next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MeiliServer:
    def __init__(self, binary: Path, data_dir: Path) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.port = free_port()
        self.key = "gongzhi-test-master-key-0123456789"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--db-path",
                str(self.data_dir / "data.ms"),
                "--dump-dir",
                str(self.data_dir / "dumps"),
                "--snapshot-dir",
                str(self.data_dir / "snapshots"),
                "--http-addr",
                f"127.0.0.1:{self.port}",
                "--master-key",
                self.key,
                "--env",
                "development",
                "--no-analytics",
                "--max-indexing-threads",
                "1",
                "--log-level",
                "WARN",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"meilisearch exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("meilisearch did not become healthy in 60 s")

    def kill(self) -> None:
        """Really stop it (SIGKILL, no graceful shutdown), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
