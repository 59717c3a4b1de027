"""The migration that rewrites stored e-mail addresses in their normal form."""

from __future__ import annotations

import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from portal.migrate import upgrade_async

BEFORE = "3c2c06d0c6b5"


async def test_stored_addresses_are_rewritten_unless_two_accounts_share_one(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await upgrade_async(url, BEFORE)
    engine = create_async_engine(url)
    emails = ["ＡＢＣ@Example.cn", "Äbc@example.cn", "dup@example.cn", "DUP@example.cn", "ok@x.cn"]
    async with engine.begin() as connection:
        for email in emails:
            await connection.execute(
                sa.text(
                    "INSERT INTO user_account (id, email, hashed_password, is_active,"
                    " is_superuser, is_verified, display_name, role, created_at)"
                    " VALUES (:id, :email, 'x', 1, 0, 0, '', 'citizen', '2026-01-01 00:00:00')"
                ),
                {"id": uuid.uuid4().hex, "email": email},
            )
    await engine.dispose()
    await upgrade_async(url)
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        stored = set((await connection.scalars(sa.text("SELECT email FROM user_account"))).all())
    await engine.dispose()
    assert stored == {
        "abc@example.cn",
        "äbc@example.cn",
        "dup@example.cn",
        "DUP@example.cn",
        "ok@x.cn",
    }
