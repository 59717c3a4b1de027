"""Hostile input to the follow-ups of failed inspections (后续处置), on SQLite and PostgreSQL."""

from __future__ import annotations

import calendar

import httpx

from portal import clock
from tests.enforcement.support import Sites
from tests.enforcement.test_follow_ups import API, _inspected
from tests.support import assert_problem


async def test_a_reinspection_day_written_as_a_number_is_refused(
    client: httpx.AsyncClient, sites: Sites
) -> None:
    """A date a client sends is YYYY-MM-DD: today's Unix time, a day the check would otherwise
    accept, is refused and corrects nothing (it was read as the day it names)."""
    bureau, _, weicheng = sites
    await _inspected(client, bureau, weicheng)
    follow_up = (await client.get(API, headers=bureau)).json()["items"][0]["id"]
    today = clock.today()
    stamp = calendar.timegm(today.timetuple())
    for value in (stamp, str(stamp)):
        assert_problem(
            await client.post(
                f"{API}/{follow_up}/correction",
                json={"evidence": "已更换封印", "reinspected_on": value},
                headers=bureau,
            ),
            422,
        )
    page = await client.post(
        f"/backoffice/follow-ups/{follow_up}/correction",
        data={"evidence": "已更换封印", "reinspected_on": str(stamp)},
        headers=bureau,
    )
    assert page.status_code == 422, page.text
    assert (await client.get(f"{API}/{follow_up}", headers=bureau)).json()["status"] == "open"


async def test_a_case_number_of_spaces_files_no_case(
    client: httpx.AsyncClient, sites: Sites
) -> None:
    """立案 needs its document number: one of spaces only (the pattern allows a space inside a
    number) was stripped to nothing and filed the case with an empty number."""
    bureau, _, weicheng = sites
    await _inspected(client, bureau, weicheng)
    follow_up = (await client.get(API, headers=bureau)).json()["items"][0]["id"]
    for blank in (" ", "   "):
        assert_problem(
            await client.post(
                f"{API}/{follow_up}/case", json={"case_number": blank}, headers=bureau
            ),
            422,
        )
        page = await client.post(
            f"/backoffice/follow-ups/{follow_up}/case", data={"case_number": blank}, headers=bureau
        )
        assert page.status_code == 422, page.text
    shown = (await client.get(f"{API}/{follow_up}", headers=bureau)).json()
    assert shown["status"] == "open"
    assert shown["case_number"] is None
