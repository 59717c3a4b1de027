"""Personal data at rest: authenticated encryption, key rotation, keyed hashes."""

from __future__ import annotations

import base64
import os
import uuid

import pytest
from sqlalchemy import Column, MetaData, String, Table, Uuid, insert, select, type_coerce

from portal import crypto
from portal.crypto import DecryptionError, EncryptedString, KeyRing, keyed_hash, reencrypt_all
from portal.db import Database
from portal.settings import Settings
from tests.support import TEST_SECRET


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _ring(keys: str = "") -> KeyRing:
    return KeyRing.from_settings(Settings(secret_key=TEST_SECRET, data_keys=keys))


def test_round_trip_and_no_plaintext() -> None:
    ring = _ring()
    stored = ring.encrypt("13812345678")
    assert "13812345678" not in stored
    assert stored != ring.encrypt("13812345678")  # a fresh nonce every time
    assert ring.decrypt(stored) == "13812345678"


def test_tampering_is_detected() -> None:
    ring = _ring()
    key_id, _, body = ring.encrypt("110101199003071234").partition(":")
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(DecryptionError):
        ring.decrypt(f"{key_id}:{base64.b64encode(bytes(raw)).decode()}")


def test_rotation_reads_old_values_and_writes_new_ones() -> None:
    old_key, new_key = _key(), _key()
    old = _ring(f"k1:{old_key}")
    stored = old.encrypt("13900001111")
    rotated = _ring(f"k2:{new_key},k1:{old_key}")
    assert rotated.decrypt(stored) == "13900001111"
    assert rotated.needs_reencryption(stored)
    assert rotated.encrypt("x").startswith("k2:")
    retired = _ring(f"k2:{new_key}")
    with pytest.raises(DecryptionError):
        retired.decrypt(stored)


def test_bad_key_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="GONGZHI_DATA_KEYS"):
        _ring("k1:dG9vLXNob3J0")


def test_keyed_hash_normalises_and_depends_on_the_secret() -> None:
    crypto.configure(Settings(secret_key=TEST_SECRET))
    assert keyed_hash("138 1234-5678") == keyed_hash("13812345678")
    assert keyed_hash("13812345678") != keyed_hash("13812345679")
    crypto.configure(Settings(secret_key=TEST_SECRET + "-other"))
    other = keyed_hash("13812345678")
    crypto.configure(Settings(secret_key=TEST_SECRET))
    assert other != keyed_hash("13812345678")


async def test_reencrypt_rewrites_a_real_table(database: Database) -> None:
    """On SQLite and PostgreSQL: values written under k1 end up under k2, still readable."""
    table_metadata = MetaData()
    table = Table(
        f"crypto_test_{uuid.uuid4().hex[:8]}",
        table_metadata,
        Column("id", Uuid, primary_key=True),
        Column("phone", EncryptedString(), nullable=True),
    )
    old_key, new_key = _key(), _key()
    async with database.engine.begin() as connection:
        await connection.run_sync(table_metadata.create_all)
    try:
        crypto.configure(Settings(secret_key=TEST_SECRET, data_keys=f"k1:{old_key}"))
        ids = [uuid.uuid4() for _ in range(7)]
        async with database.transaction() as session:
            await session.execute(
                insert(table),
                [
                    {"id": i, "phone": f"1380000{n:04d}" if n % 3 else None}
                    for n, i in enumerate(ids)
                ],
            )
        crypto.configure(Settings(secret_key=TEST_SECRET, data_keys=f"k2:{new_key},k1:{old_key}"))
        assert await reencrypt_all(database, table_metadata, batch_size=3) == 4
        assert await reencrypt_all(database, table_metadata, batch_size=3) == 0
        async with database.sessionmaker() as session:
            raw = (
                (await session.execute(select(type_coerce(table.c.phone, String)))).scalars().all()
            )
            decrypted = (await session.execute(select(table.c.phone))).scalars().all()
        assert all(value.startswith("k2:") for value in raw if value is not None)
        assert sorted(v for v in decrypted if v) == sorted(
            f"1380000{n:04d}" for n in range(7) if n % 3
        )
    finally:
        crypto.configure(Settings(secret_key=TEST_SECRET))
        async with database.engine.begin() as connection:
            await connection.run_sync(table_metadata.drop_all)
