"""The compulsory catalogue: the whole 2020 list as data, cycles from attributes and from the
regulation in force, the validity bound on certificates, the public API and page."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date

import httpx
import pytest
from sqlalchemy import select

from api.certificates.catalogue import DATA_FILE, AttributeProblem, catalogue, due_status, parse
from api.certificates.models import InstrumentCategory
from portal.accounts.models import User
from portal.db import Database
from tests.api.certificates.support import cert_body, days
from tests.support import assert_problem


def test_every_entry_is_complete_and_every_usage_area_and_form_occurs() -> None:
    book = catalogue()
    assert book.version == "2020年第42号"
    counts = json.loads(DATA_FILE.read_text(encoding="utf-8"))["counts"]
    # The catalogue's second-level lines, some split by regulation (so at least as many entries)
    assert len(book.entries) >= counts["second_level"]
    assert len({e.group for e in book.entries}) >= counts["first_level"] - 1  # see the xfail below
    assert len(book.by_code) == len(book.entries)  # codes are unique
    areas = {area for e in book.entries for area in e.usage}
    assert areas == {"贸易结算", "安全防护", "医疗卫生", "环境监测"}
    forms = {e.verification_form for e in book.entries}
    assert forms == {"periodic", "initial_rotation", "initial_scrap", "none"}
    for entry in book.entries:
        assert entry.regulations, entry.code
        assert entry.supervision_mode in {"P", "V", "P+V"}
        # A rule without a number is a form without a cycle, and only such a form.
        for regulation in entry.regulations:
            for rule in regulation.rules:
                assert (rule.months is None) == (rule.form in {"initial_scrap", "none"}), entry.code


def test_the_sources_and_the_catalogues_own_counts_are_recorded() -> None:
    """What was compared with what is in the file: the counts the catalogue states (40 first-level,
    62 second-level lines), each source with what it was used for, and each entry's sources among
    them."""
    document = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    sources = {s["id"]: s for s in document["sources"]}
    assert document["counts"]["first_level"] == 40
    assert document["counts"]["second_level"] == 62
    assert document["counts"]["source"] in sources
    for source in sources.values():
        assert source["url"].startswith("http"), source["id"]
        assert source["used_for"], source["id"]
    for entry in document["entries"]:
        assert set(entry.get("sources", [])) <= set(sources), entry["code"]
        # Checked means compared with a source; a note saying 待核对 means not yet.
        if "待核对" in entry.get("note", ""):
            assert not entry["checked"], entry["code"]


@pytest.mark.xfail(
    strict=True,
    reason="the transcription has 41 first-level groups, the catalogue states 40: which group is "
    "extra (or which belongs under another) needs the SAMR PDF; when the data matches, drop this "
    "mark",
)
def test_the_first_level_groups_are_as_many_as_the_catalogue_states() -> None:
    counts = json.loads(DATA_FILE.read_text(encoding="utf-8"))["counts"]
    assert len({e.group for e in catalogue().entries}) == counts["first_level"]


def test_water_meter_cycle_by_nominal_diameter() -> None:
    water = catalogue().by_code["water-meter"]
    day = date(2026, 3, 1)
    assert (water.cycle(day, {"dn": 15}).months, water.cycle(day, {"dn": 15}).form) == (
        72,
        "initial_rotation",
    )
    assert water.cycle(day, {"dn": 25}).months == 72
    assert water.cycle(day, {"dn": 32}).months == 48
    assert water.cycle(day, {"dn": 50}).months == 48
    assert (water.cycle(day, {"dn": 80}).months, water.cycle(day, {"dn": 80}).form) == (
        24,
        "periodic",
    )
    with pytest.raises(AttributeProblem) as missing:
        water.cycle(day, {})
    assert missing.value.code == "attribute_required"
    assert missing.value.name == "dn"
    assert "公称口径" in missing.value.message_zh
    with pytest.raises(AttributeProblem):
        water.checked_attributes({"dn": "abc"})
    with pytest.raises(AttributeProblem):
        water.checked_attributes({"colour": "blue"})
    assert water.checked_attributes({"dn": " 20 "}) == {"dn": 20}
    assert water.longest_cycle(day) == 72


def test_gas_meter_cycle_by_medium_and_flow() -> None:
    gas = catalogue().by_code["gas-meter"]
    day = date(2026, 3, 1)
    assert gas.cycle(day, {"medium": "天然气", "qmax": 6}).months == 120
    assert gas.cycle(day, {"medium": "液化石油气", "qmax": 6}).months == 72
    # G1.6 to G16 (Qmax up to 25 m³/h) are replaced when due; G25 (Qmax 40) and above periodic.
    assert gas.cycle(day, {"medium": "天然气", "qmax": 25}).form == "initial_rotation"
    assert gas.cycle(day, {"medium": "天然气", "qmax": 40}).form == "periodic"
    assert gas.cycle(day, {"medium": "天然气", "qmax": 40}).months == 36
    with pytest.raises(AttributeProblem):
        gas.checked_attributes({"medium": "氢气"})


def test_a_new_regulation_takes_effect_on_its_day_as_data() -> None:
    scale = catalogue().by_code["scale-pc"]
    assert scale.regulation_on(date(2027, 1, 7)).code == "JJG 539-2016"
    assert scale.regulation_on(date(2027, 1, 8)).code == "JJG 1204-2025"
    assert [r.code for r in scale.upcoming(date(2026, 12, 31))] == ["JJG 1204-2025"]
    dispenser = catalogue().by_code["fuel-dispenser"]
    assert dispenser.regulation_on(date(2024, 4, 30)).code == "JJG 443-2015"
    assert dispenser.regulation_on(date(2024, 5, 1)).code == "JJG 443-2023"

    # Another regulation is one more item in the data, not code.
    document = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    taxi = next(e for e in document["entries"] if e["code"] == "taximeter")
    taxi["regulations"].append(
        {"code": "JJG 517-2030", "effective_from": "2030-01-01", "rules": [{"months": 6}]}
    )
    revised = parse(document).by_code["taximeter"]
    assert revised.cycle(date(2029, 12, 31), {}).months == 12
    assert revised.cycle(date(2030, 1, 1), {}).months == 6


def test_ev_chargers_are_compulsory_from_2023() -> None:
    charger = catalogue().by_code["ev-charger-dc"]
    assert not charger.compulsory_on(date(2022, 12, 31))
    assert charger.compulsory_on(date(2023, 1, 1))


def test_first_verification_only_instruments_are_replaced_when_due() -> None:
    assert due_status(catalogue().by_code["water-meter"].verification_form) == "replace"
    assert due_status(catalogue().by_code["thermometer-glass"].verification_form) == "replace"
    assert due_status(catalogue().by_code["taximeter"].verification_form) == "expired"


async def test_the_migration_loads_every_entry(database: Database) -> None:
    async with database.transaction() as session:
        rows = {c.code: c for c in (await session.scalars(select(InstrumentCategory))).all()}
    assert set(rows) == set(catalogue().by_code)
    water = rows["water-meter"]
    assert (water.group_name, water.verification_form, water.source_doc) == (
        "水表",
        "initial_rotation",
        "2020年第42号",
    )
    assert rows["ev-charger-ac"].effective_from == date(2023, 1, 1)
    assert rows["scale-pc"].usage == "贸易结算、安全防护、医疗卫生"


async def test_validity_longer_than_the_cycle_is_refused(
    client: httpx.AsyncClient,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    headers = await auth_headers(institution_user)
    body = cert_body(category_code="fuel-dispenser", verified_on=days(-10), valid_until=days(200))
    response = await client.post("/api/v1/certificates", json=body, headers=headers)
    problem = assert_problem(response, 422, "certificate_invalid")
    error = problem["errors"][0]
    assert (error["field"], error["type"]) == ("valid_until", "validity_exceeds_cycle")
    assert "JJG 443-2023" in error["message_zh"]
    assert "6 个月" in error["message_zh"]

    # The day before and the same day a cycle later are both accepted.
    ok = cert_body(
        category_code="fuel-dispenser", verified_on="2026-01-15", valid_until="2026-07-15"
    )
    assert (await client.post("/api/v1/certificates", json=ok, headers=headers)).status_code == 201

    # In an import, the row is refused and the others are stored.
    csv_text = (
        "number,category_code,serial,owner_name,region_code,verified_on,valid_until\n"
        "CY-1,taximeter,CY1,某出租汽车公司,610402,2026-01-10,2027-03-01\n"
        "CY-2,taximeter,CY2,某出租汽车公司,610402,2026-01-10,2027-01-09\n"
    )
    report = (
        await client.post(
            "/api/v1/certificates/import",
            files={"file": ("c.csv", csv_text.encode(), "text/csv")},
            headers=headers,
        )
    ).json()
    assert report["created"] == 1, report
    assert [(e["line"], e["column"], e["code"]) for e in report["errors"]] == [
        (2, "valid_until", "validity_exceeds_cycle")
    ]


async def test_public_catalogue_api(client: httpx.AsyncClient) -> None:
    first = (await client.get("/api/v1/instrument-categories", params={"per_page": 10})).json()
    assert first["catalogue"]["version"] == "2020年第42号"
    assert first["total"] == len(catalogue().entries)
    assert len(first["items"]) == 10
    assert first["next"]
    water = (
        await client.get("/api/v1/instrument-categories", params={"q": "水表", "on": "2026-06-01"})
    ).json()["items"][0]
    assert water["code"] == "water-meter"
    assert water["regulation"] == "JJG 162-2019"
    assert [r["months"] for r in water["regulations"][0]["rules"]] == [72, 48, 24]
    assert water["attributes"][0]["name"] == "dn"
    later = (
        await client.get(
            "/api/v1/instrument-categories", params={"q": "scale-pc", "on": "2027-01-08"}
        )
    ).json()["items"][0]
    assert later["regulation"] == "JJG 1204-2025"
    medical = (
        await client.get("/api/v1/instrument-categories", params={"usage": "医疗卫生"})
    ).json()
    assert medical["total"] > 0
    assert all("医疗卫生" in i["usage_areas"] for i in medical["items"])
    assert_problem(await client.get("/api/v1/instrument-categories", params={"usage": "其他"}), 422)
    assert_problem(await client.get("/api/v1/instrument-categories", params={"q": "x" * 33}), 422)


async def test_catalogue_page_in_chinese(client: httpx.AsyncClient) -> None:
    page = await client.get("/catalogue", params={"usage": "贸易结算"})
    assert page.status_code == 200
    assert "实施强制管理的计量器具目录" in page.text
    assert "只作首次强制检定，限期使用，到期轮换" in page.text
    assert "JJG 1204-2025" in page.text
    home = await client.get("/")
    assert 'href="/catalogue"' in home.text
