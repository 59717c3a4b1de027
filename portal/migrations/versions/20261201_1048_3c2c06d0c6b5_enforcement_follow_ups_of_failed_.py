"""enforcement: follow-ups of failed inspections (issue 17)

One follow-up per failed inspection (责令改正 or 立案查处, with its deadline in working days),
opened in the transaction that records the inspection (enforcement/follow_ups.py), and its
events (who did what, when). Inspections recorded before this revision get none: their
deadlines need the working-day calendar, which a migration does not load.

Revision ID: 3c2c06d0c6b5
Revises: c7d2e5a9f113
Create Date: 2026-12-01 10:48:01.767013
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "3c2c06d0c6b5"
down_revision: str | Sequence[str] | None = "c7d2e5a9f113"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "enforcement_follow_up",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("inspection_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("region_code", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("site_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("correct", "penalty_case", name="followupkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "corrected",
                "case_filed",
                "closed",
                name="followupstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("findings", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("ordered_on", sa.Date(), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("evidence", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("reinspected_on", sa.Date(), nullable=True),
        sa.Column("case_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["enforcement_campaign.id"],
            name=op.f("fk_enforcement_follow_up_campaign_id_enforcement_campaign"),
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["enforcement_inspection.id"],
            name=op.f("fk_enforcement_follow_up_inspection_id_enforcement_inspection"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["organization.id"],
            name=op.f("fk_enforcement_follow_up_site_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enforcement_follow_up")),
        sa.UniqueConstraint("inspection_id", name=op.f("uq_enforcement_follow_up_inspection_id")),
    )
    with op.batch_alter_table("enforcement_follow_up", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enforcement_follow_up_listing", ["region_code", "status", "deadline"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_enforcement_follow_up_site_id"), ["site_id"], unique=False
        )

    op.create_table(
        "enforcement_follow_up_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("follow_up_id", sa.Uuid(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["follow_up_id"],
            ["enforcement_follow_up.id"],
            name=op.f("fk_enforcement_follow_up_event_follow_up_id_enforcement_follow_up"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enforcement_follow_up_event")),
    )
    with op.batch_alter_table("enforcement_follow_up_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enforcement_follow_up_event_follow_up_id"),
            ["follow_up_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("enforcement_follow_up_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enforcement_follow_up_event_follow_up_id"))

    op.drop_table("enforcement_follow_up_event")
    with op.batch_alter_table("enforcement_follow_up", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enforcement_follow_up_site_id"))
        batch_op.drop_index("ix_enforcement_follow_up_listing")

    op.drop_table("enforcement_follow_up")
