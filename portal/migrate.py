"""Run Alembic programmatically (used by the CLI and the tests) against any database URL."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config

from portal.crypto import EncryptedString
from portal.db import UTCDateTime

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Upgrade to every head: domains may keep their own migration branches."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "heads") -> None:
    # env.py calls asyncio.run(); give it a thread with no running loop.
    await asyncio.to_thread(upgrade, database_url, revision)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Autogenerate hook: migrations stay independent of application types."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, EncryptedString):
        return f"sa.String(length={getattr(obj.impl, 'length', None)})"
    return False


# What a migration keeps in plain SQL because a model cannot declare it: an SQLite FTS5 table
# (``*_fts``), the shadow tables FTS5 makes for it and the table keying its rows (``*_fts_*``),
# and PostgreSQL trigram indexes (``*_trgm``). Autogenerate neither drops nor compares them.
_SQL_ONLY_TABLE = re.compile(r"_fts(_[a-z]+)?$")


def include_name(name: str | None, type_: str, _parents: Any) -> bool:
    """Autogenerate hook (``include_name``): leave out the objects above."""
    if name is None:
        return True
    if type_ == "table":
        return _SQL_ONLY_TABLE.search(name) is None
    if type_ == "index":
        return not name.endswith("_trgm")
    return True
