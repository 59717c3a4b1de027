"""certificates: numbers stored in their normal form (upper case, half-width, no spaces, "-")

Lookups now normalise what people type (api/certificates/numbers.py) and compare with the stored
number, so a number stored before in another form is rewritten once here. A number whose normal
form another certificate of the same institution already has is left as it was (the two stay
told apart by the institution's own records; an administrator can correct one of them).

The normal form is repeated here rather than imported: a migration must keep doing what it did
when it was written.

Revision ID: 3f8a1c6e2b94
Revises: 7c4d2e9f1a58
Create Date: 2026-11-30 03:00:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f8a1c6e2b94"
down_revision: str | Sequence[str] | None = "7c4d2e9f1a58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DASHES = str.maketrans(
    dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58", "-")
)


def _normal(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).translate(_DASHES).split()).upper()


def upgrade() -> None:
    connection = op.get_bind()
    # Numbers typed by people are nearly all in normal form already: only the others are kept.
    changes = [
        (row.id, row.institution_id, _normal(row.number))
        for row in connection.execute(
            sa.text("SELECT id, institution_id, number FROM certificate")
        ).yield_per(10_000)
        if _normal(row.number) != row.number
    ]
    for certificate_id, institution_id, normal in changes:
        taken = connection.scalar(
            sa.text(
                "SELECT 1 FROM certificate WHERE institution_id = :institution AND number = :number"
            ),
            {"institution": institution_id, "number": normal},
        )
        if normal and taken is None:
            connection.execute(
                sa.text("UPDATE certificate SET number = :number WHERE id = :id"),
                {"number": normal, "id": certificate_id},
            )


def downgrade() -> None:
    """The earlier forms are not kept: the normal form finds the same certificates."""
