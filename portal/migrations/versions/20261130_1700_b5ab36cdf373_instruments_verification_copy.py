"""instruments: the registry's certificates copied per region the instruments are registered in

The regional statistics' 12 months (issue 15) counted the certificates of the region's
instruments by joining every certificate of the year to the registrations (600,000 at a million
instruments: most of a summary's second). Each certificate of a linked registry instrument now
has a row per region its registrations are in, with the next lower such region (a certificate
counts once in a region and below), kept by api/instruments/current.py; an index by region and
day holds every column the statistics read. The backfill copies them in one INSERT … SELECT
(window functions: PostgreSQL, SQLite ≥ 3.25). And an index (id, region_code) on the
registrations: the year's retirements test each one's region from it, not from the wide row.

Revision ID: b5ab36cdf373
Revises: aac25cde8846
Create Date: 2026-11-30 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "b5ab36cdf373"
down_revision: str | Sequence[str] | None = "aac25cde8846"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A copy, not an import of api/instruments/current.py: a migration stays as it was written.
BACKFILL = (
    "INSERT INTO registered_verification (certificate_id, region_code, registry_instrument_id,"
    " verified_on, failed, previous_region)"
    " SELECT c.id, p.region_code, c.instrument_id, c.verified_on, c.kind = 'notice',"
    " p.previous_region FROM certificate c JOIN ("
    " SELECT registry_instrument_id, region_code, lag(region_code) OVER"
    " (PARTITION BY registry_instrument_id ORDER BY region_code) AS previous_region"
    " FROM (SELECT DISTINCT registry_instrument_id, region_code FROM registered_instrument"
    " WHERE registry_instrument_id IS NOT NULL) d"
    ") p ON p.registry_instrument_id = c.instrument_id"
)


def upgrade() -> None:
    op.create_table(
        "registered_verification",
        sa.Column("certificate_id", sa.Uuid(), nullable=False),
        sa.Column("region_code", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("registry_instrument_id", sa.Uuid(), nullable=False),
        sa.Column("verified_on", sa.Date(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("previous_region", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=True),
        sa.PrimaryKeyConstraint(
            "certificate_id", "region_code", name=op.f("pk_registered_verification")
        ),
    )
    op.execute(BACKFILL)
    # The indexes after the rows: built once rather than kept through a million inserts.
    op.create_index(
        "ix_registered_verification_region",
        "registered_verification",
        ["region_code", "verified_on", "previous_region", "failed"],
        unique=False,
    )
    # The year's retirements (statistics.py) test each one's region from this index alone.
    op.create_index(
        "ix_registered_instrument_id_region",
        "registered_instrument",
        ["id", "region_code"],
        unique=False,
    )
    op.create_index(
        op.f("ix_registered_verification_registry_instrument_id"),
        "registered_verification",
        ["registry_instrument_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_registered_instrument_id_region", table_name="registered_instrument")
    op.drop_index(
        op.f("ix_registered_verification_registry_instrument_id"),
        table_name="registered_verification",
    )
    op.drop_index("ix_registered_verification_region", table_name="registered_verification")
    op.drop_table("registered_verification")
