"""certificates: the whole 2020 compulsory catalogue, versioned, from its data file

The 13 categories seeded at first become the whole 实施强制管理的计量器具目录 (市场监管总局公告
2020年第42号), read from api/certificates/catalogue_2020.json: each entry's scope (强制检定范围及
要求), the day compulsory verification starts for it (电动汽车充电桩: 2023-01-01), its place in the
catalogue, whether it was compared with the SAMR PDF, and a note. Existing codes keep their rows
(instruments point at them). The cycle rules stay in the file (api/certificates/catalogue.py).

Revision ID: c4e1a7b9d203
Revises: c4e6a8b0d2f3
Create Date: 2026-11-30 07:00:00
"""

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "c4e1a7b9d203"
down_revision: str | Sequence[str] | None = "c4e6a8b0d2f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA_FILE = Path(__file__).resolve().parents[3] / "api" / "certificates" / "catalogue_2020.json"

_TABLE = sa.table(
    "instrument_category",
    sa.column("code", sa.String),
    sa.column("name", sa.String),
    sa.column("group_name", sa.String),
    sa.column("supervision_mode", sa.String),
    sa.column("verification_form", sa.String),
    sa.column("regulation", sa.String),
    sa.column("usage", sa.String),
    sa.column("source_doc", sa.String),
    sa.column("scope", sa.String),
    sa.column("effective_from", sa.Date),
    sa.column("sort_order", sa.Integer),
    sa.column("checked", sa.Boolean),
    sa.column("note", sa.String),
)


def _rows() -> list[dict[str, object]]:
    document = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    start = document["effective_from"]
    rows = []
    for order, entry in enumerate(document["entries"], 1):
        first = sorted(entry["regulations"], key=lambda r: r["effective_from"])[0]
        rows.append(
            {
                "code": entry["code"],
                "name": entry["name"],
                "group_name": entry["group"],
                "supervision_mode": entry["supervision_mode"],
                "verification_form": entry["verification_form"],
                "regulation": first["code"],
                "usage": "、".join(entry["usage"]),
                "source_doc": document["version"],
                "scope": entry["scope"],
                "effective_from": date.fromisoformat(entry.get("effective_from", start)),
                "sort_order": order,
                "checked": bool(entry.get("checked", False)),
                "note": entry.get("note", "")[:300],
            }
        )
    return rows


def upgrade() -> None:
    with op.batch_alter_table("instrument_category", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "scope",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(sa.Column("effective_from", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("sort_order", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("checked", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column(
                "note",
                sqlmodel.sql.sqltypes.AutoString(length=300),
                nullable=False,
                server_default="",
            )
        )
    bind = op.get_bind()
    known = set(bind.execute(sa.select(_TABLE.c.code)).scalars())
    new = []
    for row in _rows():
        if row["code"] in known:
            bind.execute(_TABLE.update().where(_TABLE.c.code == row["code"]).values(**row))
        else:
            new.append(row)
    if new:
        op.bulk_insert(_TABLE, new)


def downgrade() -> None:
    bind = op.get_bind()
    seeded = {
        "scale-pc", "scale-platform", "scale-truck", "fuel-dispenser", "gas-dispenser",
        "taximeter", "sphygmomanometer", "electricity-meter", "water-meter", "gas-meter",
        "lensmeter", "syringe-pump", "speed-radar",
    }  # fmt: skip
    used = set(bind.execute(sa.text("SELECT DISTINCT category_code FROM instrument")).scalars())
    bind.execute(_TABLE.delete().where(_TABLE.c.code.notin_(seeded | used)))
    with op.batch_alter_table("instrument_category", schema=None) as batch_op:
        batch_op.drop_column("note")
        batch_op.drop_column("checked")
        batch_op.drop_column("sort_order")
        batch_op.drop_column("effective_from")
        batch_op.drop_column("scope")
