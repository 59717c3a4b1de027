"""search: a regulation's issuing body and status (现行有效 / 已修改 / 已废止)

Two versions of the same law (计量法实施细则) showed nothing to tell them apart (issue 12). Both
columns are filled by `gongzhi documents import … --kind regulation` from what the text says
(search/versions.py); existing rows stay empty until the corpus is imported again.

Revision ID: 3f8a1c6d2b97
Revises: b7d2e4f6a8c1
Create Date: 2026-11-30 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "3f8a1c6d2b97"
down_revision: str | Sequence[str] | None = "b7d2e4f6a8c1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("search_regulation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "status",
                sa.Enum(
                    "现行有效",
                    "已修改",
                    "已废止",
                    name="regulationstatus",
                    native_enum=False,
                    length=16,
                ),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("search_regulation", schema=None) as batch_op:
        batch_op.drop_column("status")
        batch_op.drop_column("issuer")
