"""credit: a substring index for the public list's word filter

The word filter of the credit list (``credit/public.py``) looks for each word in the name shown
for a grade, the association's label and the enterprise's address with ``LIKE '%word%'``: at
100,000 rated enterprises every new word scanned and joined every current grade (issue 13). The
index is kept with the data, so every writer (the services, imports, a restore) keeps it current:

- SQLite: ``credit_words_fts_text``, one row per enterprise: the shown name (the registered
  name, else the code), the address, and every association's label, one a line; and
  ``credit_words_fts``, an FTS5 index of it with the trigram tokenizer (external content keyed
  by the text's INTEGER PRIMARY KEY, stable under VACUUM, unlike the enterprise's implicit
  rowid). Triggers on the enterprises and memberships keep the text, triggers on the text the
  index. Words shorter than a trigram are looked for in the text table: one narrow row each.
- PostgreSQL: pg_trgm GIN indexes on the same columns, which ``LIKE '%word%'`` uses as it is.

Words of fewer than 3 characters cannot use a trigram; ``credit/public.py`` says what it does.

Revision ID: c7d2e5a9f113
Revises: b5ab36cdf373
Create Date: 2026-12-01 07:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c7d2e5a9f113"
down_revision: str | Sequence[str] | None = "b5ab36cdf373"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One enterprise's text (``{uscc}``: an expression naming its code), from the tables themselves.
_TEXT = """
    INSERT INTO credit_words_fts_text (uscc, shown, address, labels)
    SELECT e.uscc, coalesce(e.name, e.uscc), e.address,
           coalesce((SELECT group_concat(m.name, char(10)) FROM credit_membership m
                     WHERE m.uscc = e.uscc), '')
    FROM credit_enterprise e WHERE e.uscc = {uscc}
    ON CONFLICT (uscc) DO UPDATE SET
        shown = excluded.shown, address = excluded.address, labels = excluded.labels;
"""
_FTS_ROW = (
    "credit_words_fts (rowid, shown, address, labels)"
    " VALUES ({0}.id, {0}.shown, {0}.address, {0}.labels)"
)
_FTS_DELETE = (
    "INSERT INTO credit_words_fts (credit_words_fts, rowid, shown, address, labels)"
    " VALUES ('delete', old.id, old.shown, old.address, old.labels);"
)

SQLITE = [
    "CREATE TABLE credit_words_fts_text (id INTEGER PRIMARY KEY, uscc VARCHAR(18) NOT NULL UNIQUE,"
    " shown TEXT NOT NULL, address TEXT NOT NULL, labels TEXT NOT NULL)",
    "CREATE VIRTUAL TABLE credit_words_fts USING fts5(shown, address, labels,"
    " content = 'credit_words_fts_text', content_rowid = 'id', tokenize = 'trigram')",
    # The index follows its text (FTS5's external content, as its documentation keeps it).
    "CREATE TRIGGER credit_words_text_insert AFTER INSERT ON credit_words_fts_text BEGIN"
    f" INSERT INTO {_FTS_ROW.format('new')}; END",
    "CREATE TRIGGER credit_words_text_delete AFTER DELETE ON credit_words_fts_text BEGIN"
    f" {_FTS_DELETE} END",
    "CREATE TRIGGER credit_words_text_update AFTER UPDATE ON credit_words_fts_text BEGIN"
    f" {_FTS_DELETE} INSERT INTO {_FTS_ROW.format('new')}; END",
    # The text follows the enterprises and memberships.
    "CREATE TRIGGER credit_words_enterprise_insert AFTER INSERT ON credit_enterprise BEGIN"
    + _TEXT.format(uscc="new.uscc")
    + " END",
    "CREATE TRIGGER credit_words_enterprise_update"
    " AFTER UPDATE OF uscc, name, address ON credit_enterprise BEGIN"
    " DELETE FROM credit_words_fts_text WHERE uscc = old.uscc AND old.uscc <> new.uscc;"
    + _TEXT.format(uscc="new.uscc")
    + " END",
    "CREATE TRIGGER credit_words_enterprise_delete AFTER DELETE ON credit_enterprise BEGIN"
    " DELETE FROM credit_words_fts_text WHERE uscc = old.uscc; END",
    "CREATE TRIGGER credit_words_membership_insert AFTER INSERT ON credit_membership BEGIN"
    + _TEXT.format(uscc="new.uscc")
    + " END",
    "CREATE TRIGGER credit_words_membership_update"
    " AFTER UPDATE OF uscc, name ON credit_membership BEGIN"
    + _TEXT.format(uscc="old.uscc")
    + _TEXT.format(uscc="new.uscc")
    + " END",
    "CREATE TRIGGER credit_words_membership_delete AFTER DELETE ON credit_membership BEGIN"
    + _TEXT.format(uscc="old.uscc")
    + " END",
    # The enterprises already there (every one: e.uscc = e.uscc).
    _TEXT.format(uscc="e.uscc"),
]

POSTGRESQL = [
    # Trusted since PostgreSQL 13: the database's owner may create it.
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX credit_enterprise_shown_trgm ON credit_enterprise"
    " USING gin (coalesce(name, uscc) gin_trgm_ops)",
    "CREATE INDEX credit_enterprise_address_trgm ON credit_enterprise"
    " USING gin (address gin_trgm_ops)",
    "CREATE INDEX credit_membership_name_trgm ON credit_membership USING gin (name gin_trgm_ops)",
]


def upgrade() -> None:
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in (
            "text_insert",
            "text_delete",
            "text_update",
            "enterprise_insert",
            "enterprise_update",
            "enterprise_delete",
            "membership_insert",
            "membership_update",
            "membership_delete",
        ):
            op.execute(f"DROP TRIGGER credit_words_{trigger}")
        op.execute("DROP TABLE credit_words_fts")
        op.execute("DROP TABLE credit_words_fts_text")
        return
    # The extension stays: other objects may use it by now.
    for index in (
        "credit_enterprise_shown_trgm",
        "credit_enterprise_address_trgm",
        "credit_membership_name_trgm",
    ):
        op.execute(f"DROP INDEX {index}")
