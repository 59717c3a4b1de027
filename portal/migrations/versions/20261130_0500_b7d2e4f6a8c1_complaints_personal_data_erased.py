"""complaints: when a finished case's submitter data was erased after the retention period

个人信息保护法 第十九条: personal data is kept no longer than its purpose needs. A daily job erases the
parties' name, phone, ID number, address and e-mail of cases finished more than
GONGZHI_COMPLAINT_PERSONAL_DATA_RETENTION_DAYS ago and records when.

Revision ID: b7d2e4f6a8c1
Revises: a3c5e7f9b1d2
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d2e4f6a8c1"
down_revision: str | Sequence[str] | None = "a3c5e7f9b1d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint_case", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("personal_data_erased_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("complaint_case", schema=None) as batch_op:
        batch_op.drop_column("personal_data_erased_at")
