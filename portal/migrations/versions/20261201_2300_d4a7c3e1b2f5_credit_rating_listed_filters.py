"""credit: each grade carries its enterprise's industry and region for the public list's filters

The public list filters current grades by the enterprise's industry and region and shows them
best first. Read from the enterprise, every such page joined grades to enterprises in score order
until it had its rows, and every count joined all of them: at 100,000 rated enterprises an
industry's first count took about 200 ms and its 300th page 165 ms, a region's 190 ms
(bench/pages.py ``--scale``). Each grade now carries a copy of the two columns
(``listed_industry``, ``listed_region_code``) under an index in the list's order, so a filtered
page is read from one index like the grade filter's, and counted from it.

The copies are the database's to keep, so every writer keeps them (the services, a rebuild of the
projection, raw SQL, a restore): a grade takes its enterprise's values when it is written, and an
enterprise's change of industry or region is written to its grades.

Revision ID: d4a7c3e1b2f5
Revises: 8e1f4b2c9a70
Create Date: 2026-12-01 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4a7c3e1b2f5"
down_revision: str | Sequence[str] | None = "8e1f4b2c9a70"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FROM_ENTERPRISE = (
    "UPDATE credit_rating SET"
    " listed_industry = (SELECT industry FROM credit_enterprise e WHERE e.uscc = credit_rating.uscc),"
    " listed_region_code ="
    " (SELECT region_code FROM credit_enterprise e WHERE e.uscc = credit_rating.uscc)"
)

SQLITE = [
    "CREATE TRIGGER credit_rating_listed_insert AFTER INSERT ON credit_rating BEGIN "
    + _FROM_ENTERPRISE
    + " WHERE id = new.id; END",
    "CREATE TRIGGER credit_rating_listed_update AFTER UPDATE OF uscc, listed_industry,"
    " listed_region_code ON credit_rating BEGIN "
    + _FROM_ENTERPRISE
    + " WHERE id = new.id AND (listed_industry IS NOT (SELECT industry FROM credit_enterprise e"
    " WHERE e.uscc = new.uscc) OR listed_region_code IS NOT (SELECT region_code"
    " FROM credit_enterprise e WHERE e.uscc = new.uscc)); END",
    "CREATE TRIGGER credit_enterprise_listed_update AFTER UPDATE OF industry, region_code"
    " ON credit_enterprise BEGIN UPDATE credit_rating SET listed_industry = new.industry,"
    " listed_region_code = new.region_code WHERE uscc = new.uscc; END",
]

POSTGRESQL = [
    """
    CREATE FUNCTION credit_rating_listed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        SELECT e.industry, e.region_code INTO NEW.listed_industry, NEW.listed_region_code
        FROM credit_enterprise e WHERE e.uscc = NEW.uscc;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER credit_rating_listed BEFORE INSERT OR UPDATE OF uscc, listed_industry,"
    " listed_region_code ON credit_rating FOR EACH ROW EXECUTE FUNCTION credit_rating_listed()",
    """
    CREATE FUNCTION credit_enterprise_listed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE credit_rating SET listed_industry = NEW.industry,
            listed_region_code = NEW.region_code
        WHERE uscc = NEW.uscc;
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER credit_enterprise_listed AFTER UPDATE OF industry, region_code"
    " ON credit_enterprise FOR EACH ROW EXECUTE FUNCTION credit_enterprise_listed()",
]


def upgrade() -> None:
    with op.batch_alter_table("credit_rating") as batch:
        batch.add_column(sa.Column("listed_industry", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("listed_region_code", sa.String(length=6), nullable=True))
    op.execute(_FROM_ENTERPRISE)
    op.create_index(
        "ix_credit_rating_industry_listing",
        "credit_rating",
        ["status", "listed_industry", "score", "valid_until"],
    )
    op.create_index(
        "ix_credit_rating_region_listing",
        "credit_rating",
        ["status", "listed_region_code", "score", "valid_until"],
    )
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in (
            "credit_rating_listed_insert",
            "credit_rating_listed_update",
            "credit_enterprise_listed_update",
        ):
            op.execute(f"DROP TRIGGER {trigger}")
    else:
        op.execute("DROP TRIGGER credit_rating_listed ON credit_rating")
        op.execute("DROP TRIGGER credit_enterprise_listed ON credit_enterprise")
        op.execute("DROP FUNCTION credit_rating_listed()")
        op.execute("DROP FUNCTION credit_enterprise_listed()")
    op.drop_index("ix_credit_rating_region_listing", table_name="credit_rating")
    op.drop_index("ix_credit_rating_industry_listing", table_name="credit_rating")
    with op.batch_alter_table("credit_rating") as batch:
        batch.drop_column("listed_region_code")
        batch.drop_column("listed_industry")
