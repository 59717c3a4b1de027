"""The word filter of the public credit list: what it means (``LIKE '%word%'``) and the substring
index that finds the few enterprises it can match without reading every grade.

A visitor's words each have to be found in the name shown for a grade, the association's label or
the enterprise's address (or the whole query is the enterprise's code). Read as it is written,
that filter joins and tests every current grade: 86–440 ms a request at 100,000 rated
enterprises (issue 13). The index (migration c7d2e5a9f113) is kept with the data by the database
itself, so every writer keeps it current:

- SQLite: ``credit_words_fts_text``, one narrow row per enterprise (its shown name, address and
  every association's label), kept by triggers on the enterprises and memberships, and
  ``credit_words_fts``, its FTS5 index with the trigram tokenizer, kept by triggers on the text;
- PostgreSQL: pg_trgm GIN indexes on the same columns, which ``LIKE '%word%'`` uses as written.

The index only narrows: it gives a superset of the enterprises the words can match (case folded,
labels of every association), and the filter's own ``LIKE`` then decides on the joined rows. So
the answer is the same with or without it (tests/credit/test_words.py compares the two).

A trigram needs 3 characters. Words of 1 or 2 (超市, 西安) are left to the ``LIKE`` when another
word of the query is long enough. A query of only short words reads, on SQLite, the text table
with ``LIKE`` (one narrow row per enterprise, not a join of every grade; it stops at the first
``MAX_LISTED`` found); on PostgreSQL each table as its planner chooses (a trigram index cannot
answer them, the tables are read). bench/credit_words.py measures every shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    String,
    and_,
    any_,
    bindparam,
    column,
    func,
    intersect,
    literal,
    literal_column,
    or_,
    table,
    text,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from credit.models import Enterprise, Membership, Rating

MAX_WORDS = 8
TRIGRAM = 3  # the fewest characters a trigram index can look up

# The tables of migration c7d2e5a9f113 (not models: a model cannot declare an FTS5 table).
_TEXT = table(
    "credit_words_fts_text",
    column("id"),
    column("uscc"),
    column("shown"),
    column("address"),
    column("labels"),
)
_FTS = table("credit_words_fts")
# The most codes read from the index into a statement's list (SQLite allows 32,766 parameters).
MAX_LISTED = 2000


def split(q: str) -> list[str]:
    """The words of a query: separated by spaces (also full-width ones), at most 8."""
    return q.split()[:MAX_WORDS]


def code_of(q: str) -> str:
    """The query read as an enterprise's unified social credit code."""
    return q.strip().upper()


def matches(name: Any, q: str) -> Any:
    """Every word of the query is found in the name, the association's label or the address; or
    the query is the enterprise's code. LIKE with the wildcards escaped, so it behaves the same
    on SQLite and PostgreSQL. Reads the joined enterprise and membership of each row."""
    each = [
        or_(
            name.contains(word, autoescape=True),
            col(Membership.name).contains(word, autoescape=True),
            col(Enterprise.address).contains(word, autoescape=True),
        )
        for word in split(q)
    ]
    return or_(and_(*each), col(Enterprise.uscc) == code_of(q))


@dataclass(frozen=True)
class WordFilter:
    """How a list reads the words of a query: ``candidates``, the index's condition on the
    grade's enterprise code (None without words); ``selective``, whether a page is found sooner
    from the index than by walking the grades best first and testing each (the words match so
    many enterprises that the first page is among the first few hundred grades)."""

    candidates: Any | None
    selective: bool
    codes_lead: bool = False  # SQLite: the statements are made to start from the codes


async def plan(session: AsyncSession, q: str, *, rows: int | None) -> WordFilter:
    """The word filter of ``q`` for a page ending at row ``rows`` (None: every row).

    SQLite: the index gives the codes of the enterprises the words can match, at most
    ``MAX_LISTED`` of them read here (n), among R enterprises (PostgreSQL: its trigram indexes,
    or its tables when the words are short or found everywhere). Reading n grades by their code
    costs about n lookups, walking the grades best first about rows × R / n: the page is read
    through the codes when n² ≤ rows × R, else walked (the total is always counted through the
    codes). Up to ``MAX_LISTED`` codes go into the statements as a list, so the index is read
    once a request. On SQLite the statements are told to start from the codes (``codes_lead``):
    without statistics its planner would walk every grade instead."""
    words = split(q)
    if not words or "\x00" in q:
        # A NUL ends an FTS5 query string early (SQLite's error, a 503) and is bad input to
        # PostgreSQL: the LIKE alone answers, as before the index (a 200 on SQLite, a 422 on
        # PostgreSQL, tests/api/complaints/test_issue11.py).
        return WordFilter(None, selective=False)
    sqlite = session.get_bind().dialect.name == "sqlite"
    found = _sqlite_candidates(words) if sqlite else _postgresql_candidates(words)
    codes = list((await session.scalars(found.limit(MAX_LISTED + 1))).all())
    everyone = await _enterprises(session, sqlite=sqlite)
    if len(codes) <= MAX_LISTED:
        listed = _listed([*codes, code_of(q)], sqlite=sqlite)
        selective = rows is None or len(codes) ** 2 <= rows * everyone
        return WordFilter(listed, selective=selective, codes_lead=sqlite)
    if not sqlite:
        # Found in more enterprises than a list holds: PostgreSQL counts them no faster from
        # the codes than by reading the grades with LIKE (bench/credit_words.py), so it does.
        return WordFilter(None, selective=False)
    selective = rows is None or (MAX_LISTED + 1) ** 2 <= rows * everyone
    return WordFilter(_in(found, q), selective=selective, codes_lead=sqlite)


def _listed(codes: list[str], *, sqlite: bool) -> Any:
    if sqlite:
        return col(Rating.uscc).in_(codes)
    # One array parameter (PostgreSQL plans a list of 2,000 parameters slowly), and on the
    # enterprise too: told only about the grades, the planner hashes every enterprise.
    listed = bindparam("word_codes", codes, type_=ARRAY(String))
    return and_(col(Rating.uscc) == any_(listed), col(Enterprise.uscc) == any_(listed))


async def _enterprises(session: AsyncSession, *, sqlite: bool) -> int:
    """About how many enterprises there are, without counting them."""
    if sqlite:  # the text table's ids count up from 1
        return int(await session.scalar(select(func.max(_TEXT.c.id))) or 0)
    estimate = await session.scalar(
        text("SELECT reltuples FROM pg_class WHERE relname = 'credit_enterprise'")
    )
    return max(int(estimate or 0), 0)  # -1 before the table's first ANALYZE


def _in(found: Any, q: str) -> Any:
    return col(Rating.uscc).in_(union(found, select(literal(code_of(q)))))


def _fts_phrase(word: str) -> str:
    # Inside double quotes every character is literal (% and _ too), a quote is doubled.
    return '"' + word.replace('"', '""') + '"'


def _sqlite_candidates(words: list[str]) -> Any:
    long = [w for w in words if len(w) >= TRIGRAM]
    if long:
        # One MATCH for every long word: each phrase anywhere in the row (a phrase never spans
        # two columns, nor two labels: a word has no line break). Short words: the LIKE after.
        expression = " AND ".join(_fts_phrase(w) for w in long)
        matched: Any = (
            select(column("rowid"))
            .select_from(_FTS)
            .where(literal_column(_FTS.name).op("MATCH")(expression))
        )
        return select(_TEXT.c.uscc).where(_TEXT.c.id.in_(matched))
    # Only short words: the text table (one narrow row per enterprise), by LIKE.
    return select(_TEXT.c.uscc).where(
        *(
            or_(
                _TEXT.c.shown.contains(w, autoescape=True),
                _TEXT.c.address.contains(w, autoescape=True),
                _TEXT.c.labels.contains(w, autoescape=True),
            )
            for w in words
        )
    )


def _postgresql_candidates(words: list[str]) -> Any:
    # The expressions of the GIN indexes, written the same way so the planner matches them.
    shown = func.coalesce(col(Enterprise.name), col(Enterprise.uscc))
    per_word = [
        union(
            select(col(Enterprise.uscc)).where(
                or_(
                    shown.contains(w, autoescape=True),
                    col(Enterprise.address).contains(w, autoescape=True),
                )
            ),
            select(col(Membership.uscc)).where(col(Membership.name).contains(w, autoescape=True)),
        )
        for w in [w for w in words if len(w) >= TRIGRAM] or words
    ]
    return per_word[0] if len(per_word) == 1 else intersect(*per_word)
