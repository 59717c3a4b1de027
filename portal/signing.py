"""The portal's Ed25519 signing key: the credit ledger signs its events with it, the certificate
stickers can sign with the same key, and anyone verifies with the published public key.

The private key lives in ``GONGZHI_SIGNING_KEY_FILE`` (PKCS#8 PEM, mode 0600). It is created on
first use; creation uses O_EXCL so that two processes starting together never write two different
keys — the loser reads the winner's file. The key id is the first 8 bytes (16 hex digits) of the
SHA-256 of the raw 32-byte public key, so a verifier can pick the right key after a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


@dataclass(frozen=True)
class SigningKey:
    private_key: Ed25519PrivateKey
    key_id: str

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, message: bytes) -> str:
        """Base64 (standard alphabet, padded) Ed25519 signature of ``message``."""
        return base64.b64encode(self.private_key.sign(message)).decode("ascii")

    def public_key_raw_b64(self) -> str:
        return base64.b64encode(raw_public_key(self.public_key)).decode("ascii")

    def public_key_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public_key(public_key)).hexdigest()[:16]


def public_key_from_raw_b64(value: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(value))


def verify_signature(public_key: Ed25519PublicKey, signature_b64: str, message: bytes) -> bool:
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process won the race; its key is the key
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())


def _read(path: Path) -> Ed25519PrivateKey:
    # A racing creator may not have finished writing: wait briefly for a complete PEM.
    for _ in range(50):
        data = path.read_bytes()
        if data.rstrip().endswith(b"-----END PRIVATE KEY-----"):
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} does not hold an Ed25519 private key")
            return key
        time.sleep(0.02)
    raise ValueError(f"{path} does not hold a complete PEM private key")


@lru_cache(maxsize=8)
def _load(path: str, _version: tuple[int, int]) -> SigningKey:
    file = Path(path)
    if not file.exists():
        _create(file)
    key = _read(file)
    return SigningKey(private_key=key, key_id=key_id_of(key.public_key()))


def load_signing_key(path: Path | str) -> SigningKey:
    """The key at ``path`` (GONGZHI_SIGNING_KEY_FILE), created on first use; cached per path and
    file: a key file replaced on the shared secret store (an institution's key rotated by another
    node or process) is read again, never signed with from an old copy in memory."""
    resolved = Path(path).resolve()
    try:
        found = resolved.stat()
        version = (found.st_ino, found.st_mtime_ns)
    except FileNotFoundError:
        version = (0, 0)
    return _load(str(resolved), version)


def forget_cached_keys() -> None:
    """Drop cached keys, after a key file was rotated (replaced) on disk."""
    _load.cache_clear()
