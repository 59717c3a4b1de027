"""accounts: e-mail addresses in their one normal form

Accounts are looked up by ``portal.accounts.schemas.normalize_email`` (NFKC, trimmed, lower case).
Addresses stored before in another spelling (``ABC@example.cn`` as registered, ``ＡＢＣ@…`` typed
with a full-width input method, ``Äbc@`` that SQLite's ASCII-only ``lower()`` cannot fold) are
rewritten in it, so their owners still log in. An address whose normal form another account
already has is left as it is (two accounts of one person: an administrator decides which stays).
Data only; the downgrade keeps the normal form.

Revision ID: 9e4b7c1d2a60
Revises: 3c2c06d0c6b5
Create Date: 2026-12-01 15:00:00.000000
"""

import unicodedata
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9e4b7c1d2a60"
down_revision: str | Sequence[str] | None = "3c2c06d0c6b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _normal(email: str) -> str:
    # The same rule as normalize_email; migrations do not import application code.
    return unicodedata.normalize("NFKC", email).strip().lower()


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, email FROM user_account")).all()
    by_form: dict[str, list[tuple[object, str]]] = defaultdict(list)
    for account_id, email in rows:
        by_form[_normal(email)].append((account_id, email))
    for form, accounts in by_form.items():
        if len(accounts) != 1:
            continue
        account_id, email = accounts[0]
        if email != form:
            bind.execute(
                sa.text("UPDATE user_account SET email = :email WHERE id = :id"),
                {"email": form, "id": account_id},
            )


def downgrade() -> None:
    pass
