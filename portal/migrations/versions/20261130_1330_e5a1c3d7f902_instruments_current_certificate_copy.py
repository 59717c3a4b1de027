"""instruments: each registration's copy of its registry instrument's current certificate

The regional statistics (issue 15) derived each registration's state by joining the registry's
instruments and their current certificates: seconds at a million instruments. The registration
now carries the certificate's kind, verification day, validity end and revocation (kept by
api/instruments/current.py in the transaction that changes them); an index by region holding
every column the state needs (the statistics read it alone), and one by region with the registry
link. The backfill copies them for every linked registration in
one UPDATE … FROM (PostgreSQL, and SQLite ≥ 3.33).

Revision ID: e5a1c3d7f902
Revises: b7d2e9a4c6f1
Create Date: 2026-11-30 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "e5a1c3d7f902"
down_revision: str | Sequence[str] | None = "b7d2e9a4c6f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A copy, not an import of api/instruments/current.py: a migration stays as it was written.
BACKFILL = (
    "UPDATE registered_instrument SET current_kind = c.kind,"
    " current_verified_on = c.verified_on, current_valid_until = c.valid_until,"
    " current_revoked = EXISTS (SELECT 1 FROM certificate_event e"
    " WHERE e.certificate_id = c.id AND e.kind = 'revoked')"
    " FROM instrument i JOIN certificate c ON c.id = i.current_certificate_id"
    " WHERE registered_instrument.registry_instrument_id = i.id"
)


def upgrade() -> None:
    with op.batch_alter_table("registered_instrument", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("current_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(sa.Column("current_verified_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("current_valid_until", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("current_revoked", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            "ix_registered_instrument_statistics",
            [
                "region_code",
                "category_code",
                "status",
                "current_kind",
                "current_valid_until",
                "current_revoked",
                "due_on",
                "last_verified_on",
                "verification_form",
                "created_at",
            ],
            unique=False,
        )
        batch_op.create_index(
            "ix_registered_instrument_region_registry",
            ["region_code", "registry_instrument_id"],
            unique=False,
        )
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("registered_instrument", schema=None) as batch_op:
        batch_op.drop_index("ix_registered_instrument_region_registry")
        batch_op.drop_index("ix_registered_instrument_statistics")
        batch_op.drop_column("current_revoked")
        batch_op.drop_column("current_valid_until")
        batch_op.drop_column("current_verified_on")
        batch_op.drop_column("current_kind")
