"""credit: registered names come from the registry; each association labels its own members

An enterprise's name used to be whatever the first association to add its code typed, for every
association (issue 11, finding 1). Now ``credit_enterprise.name`` is the registered name and is
only written from the registry (``registry_source``, ``registered_at``); the name an association
typed becomes that association's label for its member (``credit_membership.name``). Existing
names were typed by associations, not taken from a registry: they move to the labels of every
membership and the registered name starts empty until an administrator or an import sets it.

Revision ID: 5b1e0c2d7a31
Revises: 54eb48006b3c
Create Date: 2026-11-30 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "5b1e0c2d7a31"
down_revision: str | Sequence[str] | None = "54eb48006b3c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("credit_membership", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
    op.execute(
        "UPDATE credit_membership SET name = (SELECT e.name FROM credit_enterprise e "
        "WHERE e.uscc = credit_membership.uscc)"
    )
    op.execute("UPDATE credit_membership SET name = uscc WHERE name IS NULL")
    with op.batch_alter_table("credit_membership", schema=None) as batch_op:
        batch_op.alter_column(
            "name", existing_type=sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False
        )
        batch_op.create_index(batch_op.f("ix_credit_membership_name"), ["name"], unique=False)

    with op.batch_alter_table("credit_enterprise", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "registry_source", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True
            )
        )
        batch_op.add_column(sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column(
            "name", existing_type=sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True
        )
    op.execute("UPDATE credit_enterprise SET name = NULL")


def downgrade() -> None:
    op.execute(
        "UPDATE credit_enterprise SET name = (SELECT MIN(m.name) FROM credit_membership m "
        "WHERE m.uscc = credit_enterprise.uscc) WHERE name IS NULL"
    )
    op.execute("UPDATE credit_enterprise SET name = uscc WHERE name IS NULL")
    with op.batch_alter_table("credit_enterprise", schema=None) as batch_op:
        batch_op.alter_column(
            "name", existing_type=sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False
        )
        batch_op.drop_column("registered_at")
        batch_op.drop_column("registry_source")
    with op.batch_alter_table("credit_membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_membership_name"))
        batch_op.drop_column("name")
