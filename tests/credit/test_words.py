"""The public list's word filter read through the substring index (credit/words.py: FTS5 trigram
on SQLite, pg_trgm on PostgreSQL) answers exactly what its LIKE alone answers, after every kind
of change to the text it reads, and a word of 3 or more characters is looked up in the index
rather than by reading every grade."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import delete, event, text, update
from sqlmodel import col

from credit import public, words
from credit.members import register_enterprise
from credit.models import Enterprise, Membership
from credit.schemas import RegistryEntry
from portal import clock as portal_clock
from portal.db import Database
from tests.credit.support import Association, Clock, MakeAssociation

QUERIES = [
    "加",  # 1 character
    "X",
    "x",  # another case of an ASCII letter
    "超市",  # 2 characters
    "西安",
    "市",
    "加油站",  # 3 characters
    "人民路",
    "XYZ超市",  # Chinese and ASCII in one word
    "xyz超",
    "西安 超市",  # two short words
    "西安 加油站",  # a short and a long word
    "超市　人民路",  # a full-width space between
    "加油站 不存在",
    "不存在的企业",
    "%",  # wildcards are characters
    "_",
    "%超市",
    "超_市",
    "1 2 3 4 5 6 7 8 加油站",  # only 8 words count: the 9th is ignored
    '"加油站"',  # the index's quote
    "Ä",  # a letter whose case only Unicode folds
]


async def _like_alone(session: Any, q: str, *, rows: int | None) -> words.WordFilter:
    return words.WordFilter(None, selective=False)


async def _answers(
    database: Database, monkeypatch: pytest.MonkeyPatch, clock: Clock, q: str
) -> tuple[Any, Any]:
    """Every row and the first pages (20, then 2 from the second) with the index, then without."""
    today = portal_clock.local_date(clock.now)
    found = []
    for plan in (words.plan, _like_alone):
        with monkeypatch.context() as patch:
            patch.setattr(words, "plan", plan)
            async with database.transaction() as session:
                every = await public.list_ratings(session, today=today, q=q, limit=None)
                first = await public.list_ratings(session, today=today, q=q)
                second = await public.list_ratings(session, today=today, q=q, offset=2, limit=2)
        found.append(
            [
                ([(row.rating.id, row.name) for row in rows], total)
                for rows, total in (every, first, second)
            ]
        )
    return found[0], found[1]


async def _publish(assoc: Association, clock: Clock) -> None:
    run = (await assoc.post("/runs", {})).json()
    assert (await assoc.post(f"/runs/{run['id']}/notice")).status_code == 200
    clock.advance(days=14)
    response = await assoc.post(f"/runs/{run['id']}/publish")
    assert response.status_code == 200, response.text


async def _check(
    database: Database, monkeypatch: pytest.MonkeyPatch, clock: Clock, queries: list[str]
) -> dict[str, int]:
    totals = {}
    for q in queries:
        indexed, like = await _answers(database, monkeypatch, clock, q)
        assert indexed == like, q
        totals[q] = indexed[0][1]
    return totals


async def test_the_index_finds_what_like_finds(
    client: httpx.AsyncClient,
    database: Database,
    make_association: MakeAssociation,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fuel = await make_association()
    market = await make_association(name="西安市超市行业协会", industry="农贸市场")
    station = await fuel.add_member("人民路加油站", address="咸阳市人民路 1 号")
    await fuel.add_member("XYZ超市咸阳店", address="咸阳市渭阳西路 8 号")
    await fuel.add_member("百分之百%超市", address="西安市朱雀大街 100% 号")
    await fuel.add_member("超_市便利", address="西安市文林路")
    umlaut = await fuel.add_member("äpfel 商行", address="宝鸡市")
    await fuel.add_member('"加油站"专卖', address="渭南市")
    await fuel.add_member("1 2 3 4 5 6 7 8", address="咸阳市")
    xian = await market.add_member("西安万家超市", region="610103", address="西安市长安北路")
    # One enterprise graded by both associations, each under its own label.
    shared = await fuel.add_member("汉中加油站", address="汉中市中山街")
    response = await client.post(
        "/api/v1/credit/association/members",
        json={"uscc": shared, "name": "汉中超市", "region_code": "610402"},
        headers=market.headers,
    )
    assert response.status_code == 201, response.text
    await _publish(fuel, clock)
    await _publish(market, clock)

    totals = await _check(database, monkeypatch, clock, [*QUERIES, station, station.lower()])
    # Not vacuous: the words find what they should.
    assert totals["加油站"] == 3  # 人民路加油站, "加油站"专卖, 汉中加油站 (fuel's label only)
    assert totals["超市"] == 4
    assert totals["%"] == 1 and totals["_"] == 1  # noqa: PT018
    # LIKE's own case rule: ASCII letters fold on SQLite, not on PostgreSQL.
    assert totals["X"] == 1
    assert totals["x"] == (1 if database.is_sqlite else 0)
    assert totals[station] == 1
    assert (await _check(database, monkeypatch, clock, ["汉中超市"]))["汉中超市"] == 1
    # Only spaces (a full-width one too) are no words: the whole list, where an empty AND of no
    # words used to reach the database.
    async with database.transaction() as session:
        today = portal_clock.local_date(clock.now)
        _, everything = await public.list_ratings(session, today=today)
        spaces, total = await public.list_ratings(session, today=today, q="\u3000 ")
    assert total == everything == 10  # eight grades by fuel, two by market
    assert len(spaces) == 10

    async with database.transaction() as session:
        # The registry names an enterprise (the shown name changes) and moves another.
        await register_enterprise(
            session,
            actor=None,
            uscc=station,
            data=RegistryEntry(
                name="咸阳东风石油站", region_code="610402", address="咸阳市文林路 9 号"
            ),
        )
        await session.execute(
            update(Enterprise).where(col(Enterprise.uscc) == xian).values(address="宝鸡市宝光路")
        )
        # A label changes, another is removed.
        await session.execute(
            update(Membership).where(col(Membership.uscc) == umlaut).values(name="Äpfel 超市")
        )
        await session.execute(
            delete(Membership).where(
                col(Membership.uscc) == shared, col(Membership.association_id) == market.org.id
            )
        )
    after = [
        "东风石油",
        "文林路",
        "人民路",
        "加油站",
        "宝光路",
        "长安北路",
        "Äpfel",
        "äpfel",
        "汉中超市",
    ]
    totals = await _check(database, monkeypatch, clock, [*QUERIES, *after])
    # The registered name is shown now; the association's label still says 人民路加油站.
    assert totals["东风石油"] == 1 and totals["人民路"] == 1  # noqa: PT018
    assert totals["文林路"] == 2 and totals["宝光路"] == 1 and totals["长安北路"] == 0  # noqa: PT018
    assert totals["Äpfel"] == 1
    assert totals["汉中超市"] == 0


async def _statements(database: Database, q: str, today: Any) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cursor: Any, statement: str, parameters: Any, _x: Any, _m: Any) -> None:
        seen.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with database.transaction() as session:
            await public.list_ratings(session, today=today, q=q)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_a_long_word_is_looked_up_in_the_index(
    client: httpx.AsyncClient, database: Database, make_association: MakeAssociation, clock: Clock
) -> None:
    fuel = await make_association()
    for index in range(12):
        await fuel.add_member(f"咸阳{index}号加油站", address=f"咸阳市人民路 {index} 号")
    await _publish(fuel, clock)
    today = portal_clock.local_date(clock.now)
    statements = await _statements(database, "加油站", today)
    async with database.engine.connect() as connection:
        plans = []
        if database.is_sqlite:
            for statement, parameters in statements:
                rows = await connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement, parameters
                )
                plans.append("\n".join(str(row[-1]) for row in rows))
            # The codes come from the FTS5 index (a MATCH: "INDEX 0:M…"), then every statement
            # reading grades finds them by their code, none reads every grade.
            assert any("credit_words_fts VIRTUAL TABLE INDEX 0:M" in p for p in plans), plans
            graded = [p for p in plans if "credit_rating" in p]
            assert graded
            assert all("SCAN credit_rating" not in p for p in graded), graded
            assert all("ix_credit_rating_uscc (uscc=?)" in p for p in graded), graded
        else:
            # A dozen rows are read faster without an index: forbid that to see that the
            # planner can use the trigram indexes for the word.
            await connection.execute(text("SET enable_seqscan = off"))
            for statement, parameters in statements:
                rows = await connection.exec_driver_sql("EXPLAIN " + statement, parameters)
                plans.append("\n".join(str(row[0]) for row in rows))
            await connection.rollback()
            # The codes come from the trigram indexes, the grades are read for those codes.
            found = [p for p in plans if "credit_rating" not in p and "credit_enterprise" in p]
            assert found, plans
            for trigram in ("credit_enterprise_shown_trgm", "credit_membership_name_trgm"):
                assert any(trigram in p for p in found), found
            graded = [p for p in plans if "credit_rating" in p]
            assert graded
            # (The total at least: the page may walk the grades when the planner's estimate of
            # the enterprises says that is as cheap.)
            assert any("= ANY" in p for p in graded), graded
