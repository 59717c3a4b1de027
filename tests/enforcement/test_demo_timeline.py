"""The demo tells one story in order: a bureau user opening it sees no verification that took
240 days against a 20-day promise because the demo stamped its completion with the day it was
loaded, and no campaign drawn today whose sites were inspected 45 days ago; its findings have
their follow-ups, one overdue and one within its deadline."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx

from portal import clock
from portal.demo import DEMO_PASSWORD
from tests.support import served_portal


def _client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=30, headers={"Origin": base})


def test_the_demo_timeline_is_in_order(tmp_path: Path) -> None:
    with served_portal(tmp_path, demo=True) as base:
        with _client(base) as lab:
            login = lab.post(
                "/login", data={"email": "institution@gongzhi.demo", "password": DEMO_PASSWORD}
            )
            assert login.status_code == 303, login.text
            done = lab.get("/api/v1/verification-applications", params={"status": "completed"})
            assert done.status_code == 200, done.text
            completed = done.json()["items"]
            assert completed
            for application in completed:
                assert application["within_limit"] is True, application
                assert 0 < application["days_to_result"] <= application["result_limit_days"]
        with _client(base) as anyone:
            campaigns = anyone.get("/api/v1/inspection-campaigns").json()["items"]
            drawn = [c for c in campaigns if c["status"] == "drawn"]
            assert drawn
            for campaign in drawn:
                created = datetime.fromisoformat(campaign["created_at"])
                drawn_at = datetime.fromisoformat(campaign["drawn_at"])
                assert created <= drawn_at <= clock.now()
                results = anyone.get(f"/api/v1/inspection-campaigns/{campaign['id']}/results")
                assert results.status_code == 200, results.text
                for row in results.json()["items"]:
                    inspected = row["inspected_on"]
                    assert clock.local_date(drawn_at).isoformat() <= inspected, (campaign, row)
        # The campaign's findings left the bureau one order to correct overdue and one penalty
        # case within its deadline (enforcement/follow_up_demo.py), shown on its page.
        with _client(base) as bureau:
            login = bureau.post(
                "/login", data={"email": "regulator@gongzhi.demo", "password": DEMO_PASSWORD}
            )
            assert login.status_code == 303, login.text
            listed = bureau.get("/api/v1/enforcement/follow-ups")
            assert listed.status_code == 200, listed.text
            shown = {(f["kind"], f["status"]) for f in listed.json()["items"]}
            assert shown == {("correct", "overdue"), ("penalty_case", "open")}, shown
            for f in listed.json()["items"]:
                assert f["ordered_on"] <= clock.today().isoformat()
            page = bureau.get("/backoffice/follow-ups")
            assert page.status_code == 200
            assert "已逾期" in page.text
            assert "办理中" in page.text
