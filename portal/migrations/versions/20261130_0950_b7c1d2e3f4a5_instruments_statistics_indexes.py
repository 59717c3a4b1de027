"""instruments: an index on registration events' kind and time for the regional statistics

The regulator's statistics count the retirements of the last 12 months by month; every
registration has several events (registered, confirmed, entered, …), so without this index the
count read every event of the region (issue 15, bench/instrument_stats.py).

Revision ID: b7c1d2e3f4a5
Revises: 54a9b73fcd2b
Create Date: 2026-11-30 09:50:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b7c1d2e3f4a5"
down_revision: str | Sequence[str] | None = "54a9b73fcd2b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_registration_event_kind_at", "registration_event", ["kind", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_registration_event_kind_at", table_name="registration_event")
