"""credit: indexes for the public list of current grades, of all grades and of one grade

The list of grades (/credit, /api/v1/credit/ratings) sorted every current grade, joined to its
enterprise and association, to show 20: seconds at 100,000 rated enterprises. Walked in score
order these indexes find a page's scores and count the current grades without reading the table.

Revision ID: b7d2e9a4c6f1
Revises: 372827023280
Create Date: 2026-11-30 10:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b7d2e9a4c6f1"
down_revision: str | Sequence[str] | None = "372827023280"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_credit_rating_listing",
        "credit_rating",
        ["status", "score", "valid_until"],
        unique=False,
    )
    op.create_index(
        "ix_credit_rating_grade_listing",
        "credit_rating",
        ["status", "grade", "score", "valid_until"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_credit_rating_grade_listing", table_name="credit_rating")
    op.drop_index("ix_credit_rating_listing", table_name="credit_rating")
