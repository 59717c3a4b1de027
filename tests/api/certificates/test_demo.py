"""The demo has a certificate held for the bureau (待核对): ``gongzhi demo`` on a fresh database
holds the re-verification of 刘德福's scale, which his shop has since registered under its own
name, and 咸阳市's bureau sees it with both candidates on its back-office page; a district bureau
elsewhere in the city does not."""

from __future__ import annotations

from pathlib import Path

import httpx

from portal.demo import DEMO_PASSWORD
from tests.support import served_portal


def _page(base: str, email: str, path: str) -> str:
    with httpx.Client(base_url=base, timeout=30) as client:
        login = client.post(
            "/login",
            data={"email": email, "password": DEMO_PASSWORD},
            headers={"Origin": base},
        )
        assert login.status_code == 303, login.text
        page = client.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 200, page.text
        return page.text


def test_the_demo_holds_a_certificate_for_the_city_bureau(tmp_path: Path) -> None:
    with served_portal(tmp_path, demo=True) as base:
        city = _page(base, "regulator@gongzhi.demo", "/backoffice/certificate-reviews")
        assert "XYJC2026-0011" in city
        assert "TC1905550" in city
        assert "咸阳市渭城区刘德福水果店" in city  # the registration, a candidate
        assert "有多台已登记器具与之相符" in city
        # 秦都区's bureau: the scale is in 渭城区, not its district.
        qindu = _page(base, "qindu@gongzhi.demo", "/backoffice/certificate-reviews")
        assert "XYJC2026-0011" not in qindu
        # Held, not issued: the certificate lookup does not find it yet.
        lookup = httpx.get(f"{base}/certificates?q=XYJC2026-0011", timeout=30)
        assert lookup.status_code == 200
        assert "查无此证" in lookup.text
