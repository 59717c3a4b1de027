"""complaints: the day a case's period stopped counting while its instrument is being tested

市场监督管理投诉举报处理暂行办法 第二十条: 检定、检验、检测、鉴定所需时间不计算在调解期限内 (and the
penalty procedure rules exclude it from a report's verification period). Staff pause a case's
clock when the instrument goes for testing and resume it when the result is back.

Revision ID: a3c5e7f9b1d2
Revises: 3f8a1c6e2b94
Create Date: 2026-11-30 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a3c5e7f9b1d2"
down_revision: str | Sequence[str] | None = "3f8a1c6e2b94"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint_case", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("complaint_case", schema=None) as batch_op:
        batch_op.drop_column("paused_on")
