"""certificates: the catalogue's corrections reach databases made before them

The catalogue data file (api/certificates/catalogue_2020.json) was compared with the sources
that could be found (its ``sources`` list; docs/rules.md): two first-level names changed, the gas
meter's replace-when-due range widened to G1.6–G16, one entry lost its "checked" mark. Revision
c4e1a7b9d203 copied the file into ``instrument_category`` when it ran, so a database made before
the corrections shows the old names and marks; this copies the file's current values again,
row by row for the codes it has (no code is added or removed).

Revision ID: d5a0c3e8f417
Revises: e5a1c3d7f902
Create Date: 2026-11-30 14:00:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "d5a0c3e8f417"
down_revision: str | Sequence[str] | None = "e5a1c3d7f902"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _whole_catalogue() -> Any:
    """The earlier revision's reading of the data file (one reading of it, not two)."""
    path = Path(__file__).with_name("20261130_0700_c4e1a7b9d203_certificates_whole_catalogue.py")
    spec = importlib.util.spec_from_file_location("whole_catalogue_c4e1a7b9d203", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot read {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    catalogue = _whole_catalogue()
    table = catalogue._TABLE
    bind = op.get_bind()
    known = set(bind.execute(sa.select(table.c.code)).scalars())
    for row in catalogue._rows():
        if row["code"] in known:
            bind.execute(table.update().where(table.c.code == row["code"]).values(**row))


def downgrade() -> None:
    """Nothing to undo: the rows hold what the data file says, as before this revision."""
