"""JSON log lines stay whole when several processes share one stdout (``gongzhi serve
--workers N`` writes every worker's log to the same file or pipe)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import os, sys
import structlog
from portal.middleware import configure_logging

configure_logging(json_lines=True)
children = []
for n in range(2):
    pid = os.fork()
    if pid == 0:
        log = structlog.get_logger()
        for i in range(3000):
            log.info("request", worker=n, i=i, path="/api/v1/search?q=" + "电子秤" * 40)
        sys.stdout.flush()
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
"""


def test_lines_from_two_processes_do_not_interleave(tmp_path: Path) -> None:
    out = tmp_path / "server.log"
    with open(out, "ab") as shared:  # O_APPEND, as a service manager or `>>` opens it
        subprocess.run([sys.executable, "-c", SCRIPT], stdout=shared, check=True, timeout=120)
    lines = out.read_text().splitlines()
    assert len(lines) == 6000
    seen = {(entry["worker"], entry["i"]) for entry in map(json.loads, lines)}
    assert len(seen) == 6000
