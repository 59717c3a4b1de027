"""A signing key replaced on the shared secret store by another node (an institution's key
rotated there) is the key this process signs with next, not its old copy in memory (issue 18:
no per-process cache of data that can change)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal import signing


def test_a_key_file_replaced_by_another_process_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "INST-1.pem"
    first = signing.load_signing_key(path)
    assert signing.load_signing_key(path).key_id == first.key_id  # cached while unchanged
    # Another node rotates the key: a new file put in place (no forget_cached_keys here).
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    staged = tmp_path / "keys" / "staged.pem"
    staged.write_bytes(pem)
    os.replace(staged, path)
    rotated = signing.load_signing_key(path)
    assert rotated.key_id != first.key_id
    assert signing.raw_public_key(rotated.public_key) == signing.raw_public_key(
        serialization.load_pem_private_key(pem, password=None).public_key()  # type: ignore[arg-type]
    )
