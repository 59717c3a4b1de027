"""The public list of grades (credit/public.py list_ratings) finds each page from the scores
first and then reads only that score range: every page, with and without filters, must be the
same slice of the one order (score, best first; then the shown name, the association and
the enterprise's code) that
sorting everything gives, and the totals must match."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.util import await_only

from credit import listing_cache
from credit.settings import CreditSettings
from portal import cache as cache_module
from portal.cache import LocalCache
from portal.db import Database
from portal.settings import Settings
from tests.credit.support import Association, Clock, MakeAssociation


async def _publish(assoc: Association, clock: Clock) -> None:
    run = (await assoc.post("/runs", {})).json()
    assert (await assoc.post(f"/runs/{run['id']}/notice")).status_code == 200
    clock.advance(days=14)
    response = await assoc.post(f"/runs/{run['id']}/publish")
    assert response.status_code == 200, response.text


async def _all_pages(client: httpx.AsyncClient, per_page: int, **filters: str) -> list[Any]:
    items: list[Any] = []
    page = 1
    while True:
        response = await client.get(
            "/api/v1/credit/ratings", params={"page": page, "per_page": per_page, **filters}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        if page * per_page >= body["total"]:
            assert len(items) == body["total"]
            return items
        page += 1


async def test_every_page_is_a_slice_of_the_one_order(
    client: httpx.AsyncClient, make_association: MakeAssociation, clock: Clock
) -> None:
    fuel = await make_association()
    market = await make_association(name="咸阳市农贸市场协会", industry="农贸市场")
    # Many equal scores (members with the same entries), across two associations and two
    # industries, so pages start and end inside runs of ties.
    for index in range(9):
        uscc = await fuel.add_member(f"加油站{index % 4}号", industry="成品油零售")
        if index % 3 == 0:
            await fuel.set_indicators(uscc, self_commitment=True)
        if index % 3 == 1:
            await fuel.set_indicators(uscc, self_commitment=True, management_system=True)
    for index in range(7):
        uscc = await market.add_member(f"农贸市场{index % 3}", region="610403", industry="农贸市场")
        if index % 2:
            await market.set_indicators(uscc, metrology_officer=True)
    await _publish(fuel, clock)
    await _publish(market, clock)

    everything = await _all_pages(client, 100)
    assert len(everything) == 16
    assert len({i["score"] for i in everything}) < 8  # ties, which the tie-breakers order
    keys = [
        (-Decimal(str(i["score"])), i["name"], i["association"]["code"], i["uscc"])
        for i in everything
    ]
    assert keys == sorted(keys)
    for per_page in (1, 2, 3, 5, 7):
        assert await _all_pages(client, per_page) == everything
    for filters in ({"industry": "农贸市场"}, {"grade": everything[-1]["grade"]}, {"q": "加油站"}):
        expected = [
            i
            for i in everything
            if ("industry" not in filters or i["industry"] == filters["industry"])
            and ("grade" not in filters or i["grade"] == filters["grade"])
            and ("q" not in filters or filters["q"] in i["name"])
        ]
        assert expected
        for per_page in (2, 3, 100):
            assert await _all_pages(client, per_page, **filters) == expected
    region = await _all_pages(client, 4, region="610403")
    assert [i["name"][:4] for i in region] == ["农贸市场"] * 7
    # Past the last page: nothing, with the total still counted.
    beyond = await client.get("/api/v1/credit/ratings", params={"page": 40, "per_page": 5})
    assert beyond.json()["items"] == []
    assert beyond.json()["total"] == 16
    # The page's industry filter lists exactly the industries that have a current grade.
    page = await client.get("/credit")
    assert page.status_code == 200
    for industry in ("成品油零售", "农贸市场"):
        assert f'<option value="{industry}"' in page.text or f">{industry}</option>" in page.text


async def test_a_grade_published_while_a_page_is_read_never_breaks_the_page(
    client: httpx.AsyncClient,
    make_association: MakeAssociation,
    clock: Clock,
    database: Database,
) -> None:
    """The page is read in more than one statement; on PostgreSQL (READ COMMITTED) each sees the
    grades as committed when it starts. A grade that rises above the page between them (another
    run published, an objection upheld) must not turn the page into an error (a negative
    OFFSET) or into rows of no order: the page is a slice of the grades before the change or of
    the grades after it."""
    fuel = await make_association()
    for index, values in enumerate(
        ({"self_commitment": True, "management_system": True}, {"self_commitment": True}, {})
    ):
        uscc = await fuel.add_member(f"加油站{index}号", industry="成品油零售")
        if values:
            await fuel.set_indicators(uscc, **values)
    await _publish(fuel, clock)
    before = await _all_pages(client, 100)
    assert len({i["score"] for i in before}) == 3  # no ties: the second page has none above it
    lowest = before[-1]["uscc"]
    after = [before[-1], *before[:-1]]

    armed = True

    def meanwhile(*args: Any) -> None:
        statement: str = args[2]
        nonlocal armed
        if not armed or "credit_rating" not in statement:
            return
        armed = False  # after the first statement of the page: another process commits

        async def publish_elsewhere() -> None:
            async with database.engine.begin() as other:
                await other.execute(
                    text("UPDATE credit_rating SET score = 100 WHERE uscc = :uscc"),
                    {"uscc": lowest},
                )

        await_only(publish_elsewhere())

    event.listen(database.engine.sync_engine, "after_cursor_execute", meanwhile)
    try:
        response = await client.get("/api/v1/credit/ratings", params={"page": 2, "per_page": 1})
    finally:
        event.remove(database.engine.sync_engine, "after_cursor_execute", meanwhile)
    assert not armed
    assert response.status_code == 200, response.text
    assert [i["uscc"] for i in response.json()["items"]] in (
        [before[1]["uscc"]],
        [after[1]["uscc"]],
    )


async def test_a_filter_sets_total_is_kept_briefly_and_a_publication_here_renews_it(
    client: httpx.AsyncClient,
    make_association: MakeAssociation,
    clock: Clock,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The total sizes the pager and is reused for GONGZHI_CREDIT_LIST_TOTAL_SECONDS (counting
    reads every grade); a grade written elsewhere shows in the rows at once and in the total when
    it expires, and a publication in this process renews it at once."""
    monkeypatch.setattr(settings.of(CreditSettings), "credit_list_total_seconds", 60)
    await database.cache.changed()
    fuel = await make_association()
    for index in range(3):
        await fuel.add_member(f"加油站{index}号", industry="成品油零售")
    await _publish(fuel, clock)
    first = (await client.get("/api/v1/credit/ratings", params={"per_page": 100})).json()
    assert first["total"] == len(first["items"])
    # Pages read with the kept total are the same slices of the one order.
    for per_page in (1, 2):
        assert await _all_pages(client, per_page) == first["items"]
    # A grade written straight to the table, past every session (raw SQL): the rows are read
    # live, the total is kept for its few seconds.
    async with database.engine.begin() as other:
        await other.execute(
            text("UPDATE credit_rating SET status = 'cancelled' WHERE uscc = :uscc"),
            {"uscc": first["items"][0]["uscc"]},
        )
    kept = (await client.get("/api/v1/credit/ratings", params={"per_page": 100})).json()
    assert len(kept["items"]) == len(first["items"]) - 1
    assert kept["total"] == first["total"]
    await database.cache.changed()  # what the seconds do
    counted = (await client.get("/api/v1/credit/ratings", params={"per_page": 100})).json()
    assert counted["total"] == len(counted["items"]) == first["total"] - 1
    # A publication in this process: the next page counts again.
    await fuel.add_member("加油站9号", industry="成品油零售")
    await _publish(fuel, clock)
    renewed = (await client.get("/api/v1/credit/ratings", params={"per_page": 100})).json()
    assert renewed["total"] == len(renewed["items"])
    assert renewed["total"] > counted["total"]


async def test_totals_expire_and_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: now[0])
    totals = LocalCache(max_entries=2)
    await listing_cache.store(totals, "a", 5, seconds=10, generation=0)
    await listing_cache.store(totals, "b", 6, seconds=0, generation=0)  # 0: not kept
    assert (await listing_cache.lookup(totals, "a"), await listing_cache.lookup(totals, "b")) == (
        (0, 5),
        (0, None),
    )
    now[0] += 10
    assert await listing_cache.lookup(totals, "a") == (0, None)
    for key in ("x", "y", "z"):
        await listing_cache.store(totals, key, 1, seconds=10, generation=0)
    assert [(await listing_cache.lookup(totals, k))[1] for k in ("x", "y", "z")] == [None, 1, 1]
    # A write committed: nothing counted before it is used, nor stored by a count begun before it.
    await totals.changed()
    assert await listing_cache.lookup(totals, "z") == (1, None)
    await listing_cache.store(totals, "z", 1, seconds=10, generation=0)
    assert await listing_cache.lookup(totals, "z") == (1, None)


@contextlib.contextmanager
def _grade_reads(database: Database) -> Iterator[list[str]]:
    """The statements that read grades while the block runs."""
    read: list[str] = []

    def seen(*args: Any) -> None:
        if "credit_rating" in args[2]:
            read.append(args[2])

    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield read
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", seen)


@pytest.fixture
async def kept_pages(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of the list kept for a minute (the suite's settings keep none), from an empty cache."""
    monkeypatch.setattr(settings.of(CreditSettings), "credit_list_page_seconds", 60)
    await database.cache.changed()


async def _one_published_grade(make_association: MakeAssociation, clock: Clock) -> Association:
    fuel = await make_association()
    await fuel.add_member("加油站", industry="成品油零售")
    await _publish(fuel, clock)
    return fuel


async def test_a_page_is_kept_for_signed_in_visitors_and_apps_and_a_publication_ends_it(
    client: httpx.AsyncClient,
    make_association: MakeAssociation,
    clock: Clock,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A visitor with a cookie or a token is never served from the page cache (their page
    carries their name), but the grades are everyone's: a page asked for again within
    GONGZHI_CREDIT_LIST_PAGE_SECONDS reads no grade, on the list page and in the API alike; a
    publication ends it at once, a raw write when the seconds do."""
    monkeypatch.setattr(settings.of(CreditSettings), "credit_list_page_seconds", 60)
    await database.cache.changed()
    fuel = await make_association()
    for index in range(3):
        await fuel.add_member(f"加油站{index}号", industry="成品油零售")
    await _publish(fuel, clock)
    signed_in = {**fuel.headers, "Cookie": "seen=1"}  # staff's token: no page cache for them
    first = await client.get("/api/v1/credit/ratings", params={"per_page": 100})
    page = await client.get("/credit", params={"industry": "成品油零售"}, headers=signed_in)
    assert first.status_code == page.status_code == 200
    with _grade_reads(database) as read:
        again = await client.get(
            "/api/v1/credit/ratings", params={"per_page": 100}, headers=signed_in
        )
        page_again = await client.get(
            "/credit", params={"industry": "成品油零售"}, headers=signed_in
        )
    assert read == []
    assert again.json() == first.json()
    assert page_again.text.count("加油站") == page.text.count("加油站") >= 3
    # Another page of the same filter set is its own entry, read from the database.
    with _grade_reads(database) as read:
        second = await client.get("/api/v1/credit/ratings", params={"per_page": 1, "page": 2})
    assert read
    assert second.json()["items"] == [first.json()["items"][1]]
    # Past every session: the kept page stands until its seconds end (what changed() does).
    async with database.engine.begin() as other:
        await other.execute(
            text("UPDATE credit_rating SET status = 'cancelled' WHERE uscc = :uscc"),
            {"uscc": first.json()["items"][0]["uscc"]},
        )
    kept = await client.get("/api/v1/credit/ratings", params={"per_page": 100})
    assert kept.json() == first.json()
    await database.cache.changed()
    lapsed = await client.get("/api/v1/credit/ratings", params={"per_page": 100})
    assert lapsed.json()["total"] == first.json()["total"] - 1
    # A publication in this process ends every kept page before its answer is sent.
    newcomer = await fuel.add_member("新来加油站", industry="成品油零售")
    await _publish(fuel, clock)
    renewed = await client.get("/api/v1/credit/ratings", params={"per_page": 100})
    assert newcomer in {item["uscc"] for item in renewed.json()["items"]}
    renewed_page = await client.get("/credit", params={"industry": "成品油零售"}, headers=signed_in)
    assert "新来加油站" in renewed_page.text


async def test_a_kept_page_reads_back_as_it_was_and_a_foreign_entry_is_a_miss() -> None:
    from credit.schemas import RatingRead

    cache = LocalCache()
    rating = RatingRead(
        uscc="91610402MA6TG0001X",
        name="咸阳某加油站",
        industry=None,
        region_code="610402",
        association={"code": "XYJL", "name": "咸阳市计量协会"},
        grade="AA",
        score=Decimal("87.50"),
        status="active",
        valid_from="2026-01-01",
        valid_until="2028-12-31",
        methodology={"code": "fuel", "version": 2},
        under_review=True,
        reply="已整改。",
    )
    page = listing_cache.ListedPage([rating], 41)
    await listing_cache.store_page(cache, "p", page, seconds=10, generation=0)
    assert await listing_cache.lookup_page(cache, "p") == (0, page)
    assert (await listing_cache.lookup_page(cache, "p"))[1].ratings[0].score == Decimal("87.50")
    for foreign in (b"12", b"{}", b'{"ratings": [{"uscc": 1}], "total": 1}', b"\xff"):
        await cache.store("q", foreign, 10, 0)
        assert await listing_cache.lookup_page(cache, "q") == (0, None)
    # Kept by the day: the same filter set tomorrow is another entry.
    today = date(2026, 12, 31)
    asked = {"industry": None, "grade": "A", "region": "秦都", "q": None, "offset": 0, "limit": 20}
    assert listing_cache.page_key(today, **asked) != listing_cache.page_key(
        date(2027, 1, 1), **asked
    )
    assert listing_cache.page_key(today, **asked) != listing_cache.page_key(
        today, **{**asked, "offset": 20}
    )


@pytest.mark.usefixtures("kept_pages")
async def test_a_region_that_names_nothing_is_told_again_not_kept(
    client: httpx.AsyncClient, make_association: MakeAssociation, clock: Clock
) -> None:
    await _one_published_grade(make_association, clock)
    for _ in range(2):
        response = await client.get("/api/v1/credit/ratings", params={"region": "火星"})
        assert response.status_code == 422
        assert response.json()["code"] == "region_not_recognised"
        page = await client.get("/credit", params={"region": "火星"})
        assert page.status_code == 200
        assert "没有找到名为“火星”的地区" in page.text


async def test_the_industry_and_region_filters_follow_the_enterprise_however_it_is_written(
    client: httpx.AsyncClient, make_association: MakeAssociation, clock: Clock, database: Database
) -> None:
    """A grade carries its enterprise's industry and region for the list's filters (kept by the
    database): through the registry service, through raw SQL, and against a write of the copy
    itself, the filtered list is the enterprise's as it is now."""
    from credit.members import register_enterprise
    from credit.schemas import RegistryEntry

    fuel = await make_association()
    codes = [await fuel.add_member(f"加油站{i}号", industry="成品油零售") for i in range(3)]
    await _publish(fuel, clock)

    async def listed(**filters: str) -> set[str]:
        return {item["uscc"] for item in await _all_pages(client, 2, **filters)}

    assert await listed(industry="成品油零售") == set(codes)
    assert await listed(region="610402") == await listed(region="秦都区") == set(codes)
    assert await listed(region="610404") == set()
    async with database.transaction() as session:
        entry = RegistryEntry(name="咸阳某燃气公司", region_code="610404", industry="供水供气")
        await register_enterprise(session, actor=None, uscc=codes[0], data=entry)
    assert await listed(industry="成品油零售") == set(codes[1:])
    assert await listed(industry="供水供气") == {codes[0]}
    assert await listed(region="610404") == await listed(region="渭城区") == {codes[0]}
    assert await listed(region="6104") == set(codes)
    async with database.engine.begin() as raw:
        await raw.execute(
            text(
                "UPDATE credit_enterprise SET region_code = '610404', industry = NULL WHERE uscc = :c"
            ),
            {"c": codes[1]},
        )
        # The copy written by hand is put back to the enterprise's.
        await raw.execute(
            text("UPDATE credit_rating SET listed_industry = '医疗机构' WHERE uscc = :c"),
            {"c": codes[2]},
        )
    await database.cache.changed()
    assert await listed(region="610404") == {codes[0], codes[1]}
    assert await listed(region="610402") == {codes[2]}
    assert await listed(industry="成品油零售") == {codes[2]}
    assert await listed(industry="医疗机构") == set()


async def test_the_strip_of_batches_in_notice_is_kept_but_a_batch_leaves_it_when_its_notice_ends(
    client: httpx.AsyncClient,
    make_association: MakeAssociation,
    clock: Clock,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings.of(CreditSettings), "credit_list_page_seconds", 300)
    await database.cache.changed()
    fuel = await make_association()
    await fuel.add_member("加油站", industry="成品油零售")
    run = (await fuel.post("/runs", {"title": "2026年度加油站计量诚信评价"})).json()
    assert (await fuel.post(f"/runs/{run['id']}/notice")).status_code == 200
    page = await client.get("/credit")
    assert f"/credit/notices/{run['id']}" in page.text
    with _grade_reads(database) as read:
        assert f"/credit/notices/{run['id']}" in (await client.get("/credit")).text
    assert read == []
    # No write when a notice period ends: the kept strip is read against the clock.
    clock.advance(days=14)
    assert f"/credit/notices/{run['id']}" not in (await client.get("/credit")).text


@pytest.mark.usefixtures("kept_pages")
async def test_a_kept_page_still_says_which_divisions_its_region_named(
    client: httpx.AsyncClient,
    make_association: MakeAssociation,
    clock: Clock,
    database: Database,
) -> None:
    await _one_published_grade(make_association, clock)
    first = await client.get("/credit", params={"region": "秦都"})
    with _grade_reads(database) as read:
        again = await client.get("/credit", params={"region": "秦都"}, headers={"Cookie": "a=1"})
    assert read == []
    for page in (first, again):
        assert '<p class="small" id="region-understood">地区：' in page.text
        assert "秦都区" in page.text.split('id="region-understood">', 1)[1].split("</p>")[0]


async def test_a_city_whose_code_ends_in_nine_is_found_whatever_the_databases_collation(
    client: httpx.AsyncClient, make_association: MakeAssociation, clock: Clock, database: Database
) -> None:
    """The region filter reads a range of codes (``_within``): its upper end must sort above every
    code of the prefix in any collation. 安康市 is 6109: "610:" as the end sorts below "610902"
    where punctuation is ignored (ICU, glibc's zh_CN.UTF-8 and en_US.UTF-8 — PostgreSQL's usual
    defaults), and the whole city read as empty."""
    fuel = await make_association()
    codes = [await fuel.add_member(f"安康加油站{i}号", region="610902") for i in range(2)]
    await _publish(fuel, clock)
    collated = not database.is_sqlite

    async def collate(collation: str) -> None:
        # The column as a database created with another locale holds it (its trigger names it).
        async with database.engine.begin() as raw:
            await raw.execute(text("DROP TRIGGER credit_rating_listed ON credit_rating"))
            await raw.execute(
                text(
                    "ALTER TABLE credit_rating ALTER COLUMN listed_region_code"
                    f' TYPE varchar(6) COLLATE "{collation}"'
                )
            )
            await raw.execute(
                text(
                    "CREATE TRIGGER credit_rating_listed BEFORE INSERT OR UPDATE OF uscc,"
                    " listed_industry, listed_region_code ON credit_rating FOR EACH ROW"
                    " EXECUTE FUNCTION credit_rating_listed()"
                )
            )
        await database.engine.dispose()  # statements prepared against the old column

    if collated:
        await collate("und-x-icu")
    try:
        await database.cache.changed()
        for region in ("6109", "610900", "安康", "61", "610902", "汉滨区"):
            found = {item["uscc"] for item in await _all_pages(client, 5, region=region)}
            assert found == set(codes), region
    finally:
        if collated:
            await collate("default")


async def test_answers_read_on_the_replica_are_not_kept(
    client: httpx.AsyncClient,
    make_association: MakeAssociation,
    clock: Clock,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A replica may be seconds behind: a publication has moved the cache's generation on the
    primary already, so a page read there from before it would be kept as current for everyone.
    Read on the replica, nothing is kept (the session that reads it says so:
    tests/api/certificates/test_replica.py checks the mark on a real streaming replica)."""
    from credit import public

    monkeypatch.setattr(settings.of(CreditSettings), "credit_list_page_seconds", 60)
    monkeypatch.setattr(settings.of(CreditSettings), "credit_list_total_seconds", 60)
    await database.cache.changed()
    fuel = await make_association()
    await fuel.add_member("加油站", industry="成品油零售")
    await _publish(fuel, clock)
    monkeypatch.setattr(public, "reads_replica", lambda session: True)
    for path in ("/credit", "/api/v1/credit/ratings"):
        assert (await client.get(path)).status_code == 200
        with _grade_reads(database) as read:
            assert (await client.get(path)).status_code == 200
        assert read  # read again: nothing was kept
