"""complaints: 分送 by a higher bureau and disputes over jurisdiction between bureaus

投诉举报处理暂行办法 第三十七条: a higher bureau's receiving body dispatches (分送) a case to the lower
bureau that has jurisdiction (``dispatched_from`` keeps where it came from). 第三十条: two bureaus
that dispute jurisdiction settle it within 7 working days (``dispute_region``, ``dispute_due``),
else the common higher bureau designates the one that handles it (``dispute_escalated_to``).

Revision ID: c4e6a8b0d2f3
Revises: 3f8a1c6d2b97
Create Date: 2026-11-30 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4e6a8b0d2f3"
down_revision: str | Sequence[str] | None = "3f8a1c6d2b97"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint_case", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispatched_from", sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column("dispute_region", sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column("dispute_due", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("dispute_escalated_to", sa.String(length=6), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("complaint_case", schema=None) as batch_op:
        batch_op.drop_column("dispute_escalated_to")
        batch_op.drop_column("dispute_due")
        batch_op.drop_column("dispute_region")
        batch_op.drop_column("dispatched_from")
