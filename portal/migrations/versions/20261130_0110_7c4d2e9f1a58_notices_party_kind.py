"""notices: the party's kind (enterprise or individual) is stored, not guessed from its name

A party without a credit code was taken for an individual only when its name had at most four
characters, so a five-character personal name was shown unmasked (issue 11). Existing notices:
a party with a credit code, or whose name says it is a business (公司, 店, 厂, 站, 中心, 市场 …),
is an enterprise; every other party is an individual, so an unclear old row is masked rather
than shown.

Revision ID: 7c4d2e9f1a58
Revises: 5b1e0c2d7a31
Create Date: 2026-11-30 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c4d2e9f1a58"
down_revision: str | Sequence[str] | None = "5b1e0c2d7a31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUSINESS_MARKERS = ("公司", "店", "厂", "站", "中心", "市场", "超市", "商行", "经营部", "合作社")


def upgrade() -> None:
    with op.batch_alter_table("search_notice", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "party_kind",
                sa.Enum("enterprise", "individual", name="partykind", native_enum=False, length=16),
                nullable=True,
            )
        )
    business = " OR ".join(f"party_name LIKE '%{marker}%'" for marker in BUSINESS_MARKERS)
    op.execute(
        "UPDATE search_notice SET party_kind = CASE WHEN party_uscc IS NOT NULL OR "
        f"{business} THEN 'enterprise' ELSE 'individual' END"
    )
    with op.batch_alter_table("search_notice", schema=None) as batch_op:
        batch_op.alter_column(
            "party_kind",
            existing_type=sa.Enum(
                "enterprise", "individual", name="partykind", native_enum=False, length=16
            ),
            nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("search_notice", schema=None) as batch_op:
        batch_op.drop_column("party_kind")
