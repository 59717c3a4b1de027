"""notices: search documents of individuals' notices written again, their names masked in full

Since this revision an individual's name written in a notice's title, facts or legal basis is
masked in the public page, the API and the search document (notices/public.py ``public_text``),
not only in the party's own field. Documents indexed before it still hold the full name in the
search engine, which is derived data the migration cannot reach: it asks the worker, through the
outbox's ``search.index`` job (portal/facts.py ``enqueue_index``), to write each individual's
notice again from its row. A notice the public may no longer see is deleted from the index by
the same job.

Revision ID: 8e1f4b2c9a70
Revises: 9e4b7c1d2a60
Create Date: 2026-12-01 15:10:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from portal import clock

revision: str = "8e1f4b2c9a70"
down_revision: str | Sequence[str] | None = "9e4b7c1d2a60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The outbox's own values, as of this revision (portal/facts.py INDEX_TOPIC, INDEX_BATCH).
_TOPIC = "search.index"
_BATCH = 500

_NOTICE = sa.table(
    "search_notice", sa.column("id", sa.Uuid()), sa.column("party_kind", sa.String())
)
_OUTBOX = sa.table(
    "outbox_event",
    sa.column("id", sa.Uuid()),
    sa.column("topic", sa.String()),
    sa.column("payload", sa.JSON()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("available_at", sa.DateTime(timezone=True)),
    sa.column("attempts", sa.Integer()),
)


def upgrade() -> None:
    bind = op.get_bind()
    ids = sorted(
        str(row[0])
        for row in bind.execute(sa.select(_NOTICE.c.id).where(_NOTICE.c.party_kind == "individual"))
    )
    if not ids:
        return
    now = clock.now()
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # UTC without an offset, as portal.db.UTCDateTime stores it
    op.bulk_insert(
        _OUTBOX,
        [
            {
                "id": uuid.uuid4(),
                "topic": _TOPIC,
                "payload": {"kind": "notice", "ids": ids[start : start + _BATCH]},
                "created_at": now,
                "available_at": now,
                "attempts": 0,
            }
            for start in range(0, len(ids), _BATCH)
        ],
    )


def downgrade() -> None:
    # Nothing to undo: writing a document again from its row changes nothing of the data.
    pass
