"""Personal data encrypted at rest: phone numbers, ID numbers and similar fields of complainants
and reporters (OWASP ASVS V6, V8).

- ``EncryptedString`` is a column type: values are encrypted with AES-256-GCM (authenticated, so a
  tampered ciphertext fails to decrypt) under the current key and stored as
  ``<key id>:<base64(nonce || ciphertext)>``. Any key of the ring decrypts, so keys can rotate:
  add a new key at the front of ``GONGZHI_DATA_KEYS``, then run ``gongzhi keys reencrypt``, which
  rewrites every encrypted column of every table under the new key; then drop the old key.
- ``keyed_hash`` gives a stable HMAC of a normalised value under a separate key, for lookups
  ("all cases from this phone number") without decrypting every row.

Keys come from settings (``GONGZHI_DATA_KEYS="k2:<base64 32 bytes>,k1:<…>"``); without that
setting one key is derived from ``GONGZHI_SECRET_KEY`` (development and tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String
from sqlalchemy.types import TypeDecorator

from portal.settings import Settings


class DecryptionError(Exception):
    """A stored value could not be authenticated with any key of the ring."""


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, bytes]  # key id -> 32-byte key, in insertion order
    current: str
    hash_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        keys: dict[str, bytes] = {}
        for entry in filter(None, (e.strip() for e in settings.data_keys.split(","))):
            key_id, _, encoded = entry.partition(":")
            key = base64.b64decode(encoded)
            if len(key) != 32 or not key_id:
                raise ValueError("each GONGZHI_DATA_KEYS entry is <id>:<base64 of 32 bytes>")
            keys[key_id] = key
        if not keys:
            keys["k0"] = _derive(settings.secret_key, b"gongzhi data key k0")
        current = next(iter(keys))
        return cls(
            keys=keys, current=current, hash_key=_derive(settings.secret_key, b"gongzhi hash")
        )

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.current]).encrypt(
            nonce, plaintext.encode(), self.current.encode()
        )
        return f"{self.current}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str) -> str:
        key_id, _, encoded = stored.partition(":")
        key = self.keys.get(key_id)
        if key is None:
            raise DecryptionError(f"no key {key_id!r} in the key ring")
        raw = base64.b64decode(encoded)
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], key_id.encode()).decode()
        except InvalidTag as exc:
            raise DecryptionError("ciphertext failed authentication") from exc

    def needs_reencryption(self, stored: str) -> bool:
        return not stored.startswith(self.current + ":")


def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


_ring: KeyRing | None = None


def configure(settings: Settings) -> KeyRing:
    """Install the key ring from settings; called by the app factory and the CLI."""
    global _ring
    _ring = KeyRing.from_settings(settings)
    return _ring


def key_ring() -> KeyRing:
    if _ring is None:
        return configure(Settings())
    return _ring


def keyed_hash(value: str) -> str:
    """HMAC-SHA256 of a normalised value (spaces and dashes removed), for equality lookups."""
    normalised = "".join(value.split()).replace("-", "")
    return hmac.new(key_ring().hash_key, normalised.encode(), hashlib.sha256).hexdigest()


class EncryptedString(TypeDecorator[str]):
    """A string column stored encrypted (see module docstring). Not searchable or sortable in SQL:
    pair it with a ``keyed_hash`` column when equality lookups are needed."""

    impl = String
    cache_ok = True

    def __init__(self, length: int = 512, **kwargs: Any) -> None:
        super().__init__(length=length, **kwargs)

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else key_ring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else key_ring().decrypt(value)


async def reencrypt_all(database: Any, metadata: Any, *, batch_size: int = 500) -> int:
    """Rewrite every ``EncryptedString`` value not under the current key; returns how many.
    Idempotent and restartable: each batch commits on its own."""
    from sqlalchemy import select, type_coerce, update

    ring = key_ring()
    rewritten = 0
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, EncryptedString)]
        if not columns:
            continue
        primary_key = list(table.primary_key.columns)
        raw = [type_coerce(c, String).label(c.name) for c in columns]
        last: tuple[Any, ...] | None = None
        while True:
            stmt = select(*primary_key, *raw).order_by(*primary_key).limit(batch_size)
            if last is not None:
                from sqlalchemy import tuple_

                stmt = stmt.where(tuple_(*primary_key) > tuple_(*last))
            async with database.transaction() as session:
                rows = (await session.execute(stmt)).all()
                for row in rows:
                    values = {
                        c.name: ring.encrypt(ring.decrypt(row._mapping[c.name]))
                        for c in columns
                        if row._mapping[c.name] is not None
                        and ring.needs_reencryption(row._mapping[c.name])
                    }
                    if values:
                        where = [pk == row._mapping[pk.name] for pk in primary_key]
                        # Values are already ciphertext: bypass the column type on the way in.
                        raw_values = {k: type_coerce(v, String) for k, v in values.items()}
                        await session.execute(update(table).where(*where).values(**raw_values))
                        rewritten += len(values)
            if len(rows) < batch_size:
                break
            last = tuple(rows[-1]._mapping[pk.name] for pk in primary_key)
    return rewritten
