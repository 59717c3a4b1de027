"""The fast path's batches: lookups arriving together go to the database together, and each
request still gets exactly its own answer (api/certificates/reader.py, ``Coalescer``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from api.certificates.queries import NUMBER
from api.certificates.reader import Coalescer, Rows, get_reader
from portal.db import Database
from tests.api.certificates.support import Issue


class _Table:
    """A stand-in for the certificate query: one row per number it knows, and a log of batches."""

    def __init__(self, known: set[str], *, delay: float = 0.01) -> None:
        self.known = known
        self.delay = delay
        self.batches: list[list[str]] = []
        self.running = 0
        self.most_running = 0
        self.fail_with: Exception | None = None

    async def fetch_many(self, numbers: Sequence[str]) -> Rows:
        self.batches.append(list(numbers))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.delay)
            if self.fail_with is not None:
                raise self.fail_with
            rows: Rows = []
            for number in numbers:
                if number in self.known:
                    row: list[Any] = [None] * (NUMBER + 1)
                    row[NUMBER] = number
                    rows.append(tuple(row))
            return rows
        finally:
            self.running -= 1


async def test_a_lone_lookup_leaves_at_once_and_alone() -> None:
    table = _Table({"A"})
    coalescer = Coalescer(table.fetch_many)
    rows = await coalescer.rows("A")
    assert [r[NUMBER] for r in rows] == ["A"]
    assert table.batches == [["A"]]


async def test_a_burst_is_answered_in_few_queries_each_with_its_own_rows() -> None:
    known = {f"N{i}" for i in range(0, 300, 2)}  # every other number exists
    table = _Table(known)
    coalescer = Coalescer(table.fetch_many, max_in_flight=2, max_batch=64)
    asked = [f"N{i}" for i in range(300)] + ["N4", "N4"]  # the same number three times
    answers = await asyncio.gather(*(coalescer.rows(n) for n in asked))
    for number, rows in zip(asked, answers, strict=True):
        assert [r[NUMBER] for r in rows] == ([number] if number in known else [])
    assert table.most_running <= 2
    assert all(len(batch) <= 64 for batch in table.batches)
    assert sum(len(batch) for batch in table.batches) == 300  # N4 queried once
    assert len(table.batches) <= 6  # 300 numbers in batches of 64, not 300 queries


async def test_a_failed_query_fails_its_batch_and_the_next_batches_still_run() -> None:
    table = _Table({"A", "B"})
    coalescer = Coalescer(table.fetch_many, max_in_flight=1)
    table.fail_with = ConnectionError("database went away")
    failing = [coalescer.rows("A"), coalescer.rows("B")]
    with pytest.raises(ConnectionError):
        await failing[0]
    with pytest.raises(ConnectionError):
        await failing[1]
    table.fail_with = None
    assert [r[NUMBER] for r in await coalescer.rows("B")] == ["B"]


async def test_a_client_that_leaves_does_not_disturb_the_others() -> None:
    table = _Table({"A"}, delay=0.05)
    coalescer = Coalescer(table.fetch_many, max_in_flight=1)
    first = asyncio.ensure_future(coalescer.rows("A"))
    leaving = coalescer.rows("A")
    await asyncio.sleep(0)
    leaving.cancel()
    assert [r[NUMBER] for r in await first] == ["A"]
    await coalescer.aclose()
    assert leaving.cancelled()


async def test_concurrent_lookups_on_the_database_equal_one_at_a_time(
    client: httpx.AsyncClient, issue: Issue, database: Database
) -> None:
    """On both databases (PostgreSQL batches, SQLite does not): many requests at once, found and
    missing, give what each gives alone."""
    for n in range(12):
        await issue(number=f"CO-{n}")
    numbers = [f"CO-{n}" for n in range(12)] + ["CO-MISSING", "CO-3", "CO-7"]

    def answer(response: httpx.Response) -> dict[str, Any]:
        body: dict[str, Any] = response.json()
        body.pop("request_id", None)  # each request's own
        return body

    alone = [answer(await client.get(f"/api/v1/certificates/{n}")) for n in numbers]
    together = await asyncio.gather(*(client.get(f"/api/v1/certificates/{n}") for n in numbers))
    assert [answer(r) for r in together] == alone
    assert [r.status_code for r in together] == [200] * 12 + [404, 200, 200]
    reader = get_reader(client._transport.app.state)  # type: ignore[attr-defined]
    assert reader.is_sqlite == database.url.startswith("sqlite")


async def test_a_number_the_database_cannot_hold_fails_no_one_else(
    client: httpx.AsyncClient, issue: Issue
) -> None:
    """A NUL byte (PostgreSQL text cannot hold one) or a number longer than any stored one is
    not found without a query: in a batch, its driver error would fail every request with it."""
    await issue(number="CO-NUL")
    paths = ["/api/v1/certificates/CO-NUL", "/api/v1/certificates/CO%00X"]
    paths += ["/api/v1/certificates/" + "9" * 500]
    answers = await asyncio.gather(*(client.get(p) for p in paths * 3))
    assert [r.status_code for r in answers] == [200, 404, 404] * 3
