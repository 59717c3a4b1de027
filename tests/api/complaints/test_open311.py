"""Open311 GeoReport v2 in XML and JSON: discovery, services, definitions, requests, tokens,
errors in the spec's format, form-encoded and multipart POSTs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from api.complaints.settings import ComplaintsSettings
from portal.settings import Settings
from tests.api.complaints import images

BASE = "/open311/v2"
KEY = "test-open311-key"


@pytest.fixture
def open311_key(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(settings.of(ComplaintsSettings), "open311_api_keys", f"other-key, {KEY}")
    return KEY


def xml_root(response: httpx.Response) -> ET.Element:
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)


def assert_open311_error(response: httpx.Response, status: int, fmt: str) -> str:
    assert response.status_code == status, response.text
    if fmt == "json":
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        [error] = response.json()
        assert error["code"] == status
        return str(error["description"])
    root = xml_root(response)
    assert root.tag == "errors"
    [error] = root.findall("error")
    assert error.findtext("code") == str(status)
    return error.findtext("description") or ""


def form(**overrides: Any) -> dict[str, Any]:
    data = {
        "api_key": KEY,
        "service_code": "short_weight",
        "lat": "34.3297",
        "long": "108.7093",
        "address_string": "咸阳市秦都区人民路农贸市场",
        "description": "称重时秤盘下有磁铁，两斤少了三两。",
        "attribute[goods]": "鸡蛋",
        "attribute[business_name]": "秦都区人民路农贸市场 赵记蛋品",
        "attribute[instrument_kind]": "scale",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


async def test_discovery_and_services_in_both_formats(client: httpx.AsyncClient) -> None:
    discovery = (await client.get(f"{BASE}/discovery.json")).json()
    [endpoint] = discovery["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    root = xml_root(await client.get(f"{BASE}/discovery.xml"))
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == [
        "text/xml",
        "application/json",
    ]

    services = (await client.get(f"{BASE}/services.json")).json()
    codes = [s["service_code"] for s in services]
    assert codes[:2] == ["short_weight", "unverified_instrument"]
    assert "other" in codes
    assert services[0]["service_name"] == "缺斤短两"
    assert services[0]["metadata"] is True
    assert services[0]["type"] == "realtime"
    root = xml_root(await client.get(f"{BASE}/services.xml"))
    assert [s.findtext("service_code") for s in root.findall("service")] == codes
    assert root.find("service/metadata").text == "true"  # type: ignore[union-attr]

    definition = (await client.get(f"{BASE}/services/unverified_instrument.json")).json()
    attrs = {a["code"]: a for a in definition["attributes"]}
    assert attrs["sticker_state"]["datatype"] == "singlevaluelist"
    assert attrs["sticker_state"]["required"] is True
    assert {v["key"] for v in attrs["sticker_state"]["values"]} == {"missing", "expired", "damaged"}
    assert sorted(a["order"] for a in definition["attributes"]) == list(
        range(1, len(definition["attributes"]) + 1)
    )
    root = xml_root(await client.get(f"{BASE}/services/unverified_instrument.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "unverified_instrument"
    keys = root.findall("attributes/attribute[code='sticker_state']/values/value/key")
    assert {k.text for k in keys} == {"missing", "expired", "damaged"}


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_errors_use_the_spec_format(
    client: httpx.AsyncClient, fmt: str, open311_key: str
) -> None:
    assert_open311_error(await client.get(f"{BASE}/services/nope.{fmt}"), 404, fmt)
    assert_open311_error(await client.get(f"{BASE}/requests/JL20000101-000001.{fmt}"), 404, fmt)
    assert_open311_error(await client.get(f"{BASE}/tokens/not-a-token.{fmt}"), 404, fmt)
    assert_open311_error(await client.get(f"{BASE}/nothing-here.{fmt}"), 404, fmt)
    text = assert_open311_error(
        await client.post(f"{BASE}/requests.{fmt}", data=form(api_key="wrong")), 403, fmt
    )
    assert "api_key" in text
    assert_open311_error(
        await client.post(f"{BASE}/requests.{fmt}", data=form(api_key=None)), 403, fmt
    )
    assert_open311_error(
        await client.post(f"{BASE}/requests.{fmt}", data=form(service_code=None)), 400, fmt
    )
    assert_open311_error(
        await client.post(f"{BASE}/requests.{fmt}", data=form(service_code="x")), 404, fmt
    )
    no_location = form(lat=None, long=None, address_string=None)
    assert_open311_error(await client.post(f"{BASE}/requests.{fmt}", data=no_location), 400, fmt)
    text = assert_open311_error(
        await client.post(f"{BASE}/requests.{fmt}", data=form(**{"attribute[goods]": None})),
        400,
        fmt,
    )
    assert "goods" in text
    complaint_without_phone = form(**{"attribute[case_kind]": "complaint"})
    assert_open311_error(
        await client.post(f"{BASE}/requests.{fmt}", data=complaint_without_phone), 400, fmt
    )
    assert_open311_error(
        await client.get(f"{BASE}/requests.{fmt}", params={"start_date": "yesterday"}), 400, fmt
    )
    long_span = {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}
    assert_open311_error(await client.get(f"{BASE}/requests.{fmt}", params=long_span), 400, fmt)
    assert_open311_error(
        await client.get(f"{BASE}/requests.{fmt}", params={"status": "x"}), 400, fmt
    )


async def test_post_then_read_back_in_both_formats(
    client: httpx.AsyncClient, open311_key: str
) -> None:
    created = await client.post(f"{BASE}/requests.json", data=form())
    assert created.status_code == 201, created.text
    [answer] = created.json()
    number = answer["service_request_id"]
    assert number.startswith("JL")
    assert "token" not in answer
    assert "查询码" in answer["service_notice"]

    [request] = (await client.get(f"{BASE}/requests/{number}.json")).json()
    assert request["service_code"] == "short_weight"
    assert request["service_name"] == "缺斤短两"
    assert request["status"] == "open"
    assert request["requested_datetime"].endswith("+08:00")
    assert request["expected_datetime"] is None or "T23:59:59" in request["expected_datetime"]
    assert request["agency_responsible"] == "陕西省咸阳市秦都区市场监督管理局"
    # Public: no free text, business or person; location rounded to ~100 m.
    assert request["description"] == ""
    assert request["address"] == ""
    assert request["lat"] == 34.33
    assert request["long"] == 108.709

    xml_created = await client.post(f"{BASE}/requests.xml", data=form())
    root = xml_root(xml_created)
    number2 = root.findtext("request/service_request_id")
    assert number2
    assert number2 != number
    root = xml_root(await client.get(f"{BASE}/requests/{number2}.xml"))
    assert root.tag == "service_requests"
    assert root.findtext("request/status") == "open"
    assert root.findtext("request/service_code") == "short_weight"

    listed = (
        await client.get(f"{BASE}/requests.json", params={"service_code": "short_weight"})
    ).json()
    assert {r["service_request_id"] for r in listed} == {number, number2}
    by_id = (
        await client.get(
            f"{BASE}/requests.json", params={"service_request_id": f"{number},{number2}"}
        )
    ).json()
    assert len(by_id) == 2
    assert (await client.get(f"{BASE}/requests.json", params={"status": "closed"})).json() == []
    paged = (await client.get(f"{BASE}/requests.json", params={"page_size": 1, "page": 2})).json()
    assert len(paged) == 1
    root = xml_root(await client.get(f"{BASE}/requests.xml", params={"status": "open"}))
    assert len(root.findall("request")) == 2


async def test_post_with_media_upload_and_named_complaint(
    client: httpx.AsyncClient, open311_key: str, make_user, auth_headers
) -> None:
    data = form(
        first_name="三",
        last_name="张",
        phone="13800138000",
        **{"attribute[case_kind]": "complaint", "attribute[request]": "退款"},
    )
    files = [
        ("media", ("a.jpg", images.jpeg(orientation=6), "image/jpeg")),
        ("media[]", ("b.heic", images.heic(), "image/heic")),
    ]
    response = await client.post(f"{BASE}/requests.json", data=data, files=files)
    assert response.status_code == 201, response.text
    number = response.json()[0]["service_request_id"]
    from portal.accounts.models import Role

    regulator = await make_user(Role.regulator, region="610400")
    headers = await auth_headers(regulator)
    queue = (await client.get("/api/v1/staff/cases", headers=headers)).json()
    [item] = queue["items"]
    case = (await client.get(f"/api/v1/staff/cases/{item['id']}", headers=headers)).json()
    assert case["tracking_number"] == number
    assert case["source"] == "open311"
    assert case["kind"] == "complaint"
    assert case["parties"][0]["name"] == "张三"
    assert [p["content_type"] for p in case["photos"]] == ["image/jpeg", "image/heic"]

    bad = await client.post(
        f"{BASE}/requests.json",
        data=form(),
        files=[("media", ("x.jpg", b"not an image at all", "image/jpeg"))],
    )
    assert_open311_error(bad, 415, "json")


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "params",
    [
        {"page": "99999999999999999999999"},  # an offset no database integer holds
        {"page": "100001"},
        {"page_size": "9" * 40},
        {"start_date": "0001-01-01"},  # before year 1 once moved from Shanghai to UTC
        {"end_date": "0001-01-01"},  # 90 days before it is before year 1
        {"start_date": "0001-01-01T00:00:00Z", "end_date": "0001-01-02T00:00:00Z"},
        {"end_date": "9999-12-31T23:59:59-12:00"},  # after year 9999 in UTC
    ],
)
async def test_requests_list_refuses_out_of_range_pages_and_dates(
    client: httpx.AsyncClient, fmt: str, params: dict[str, str]
) -> None:
    """A page or a date a citizen's client can type is answered with the spec's 400, never a
    500 (an offset past a 64-bit integer, a date that overflows in UTC or 90 days away)."""
    response = await client.get(f"{BASE}/requests.{fmt}", params=params)
    if "page_size" in params:
        assert response.status_code == 200, response.text  # clamped to max_requests, as before
        return
    assert_open311_error(response, 400, fmt)


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_post_with_an_overlong_idempotency_key_is_the_spec_400(
    client: httpx.AsyncClient, open311_key: str, fmt: str
) -> None:
    """The app API bounds the Idempotency-Key at 128 characters (the column's length); Open311
    read it unbounded, so a longer key was stored whole on SQLite and broke the insert on
    PostgreSQL, answered as problem+json instead of the spec's error list. Now both refuse it
    the same way, before anything is written."""
    long_key = {"Idempotency-Key": "k" * 129}
    refused = await client.post(f"{BASE}/requests.{fmt}", data=form(), headers=long_key)
    assert "Idempotency-Key" in assert_open311_error(refused, 400, fmt)
    listed = await client.get(f"{BASE}/requests.json")
    assert listed.json() == []
    fine = {"Idempotency-Key": "k" * 128}
    first = await client.post(f"{BASE}/requests.{fmt}", data=form(), headers=fine)
    assert first.status_code == 201, first.text
    again = await client.post(f"{BASE}/requests.{fmt}", data=form(), headers=fine)
    assert again.status_code == 201
    assert again.content == first.content  # a replay: the same case, not a second one
    assert len((await client.get(f"{BASE}/requests.json")).json()) == 1


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "field", ["description", "attribute[goods]", "address_string", "first_name"]
)
async def test_post_with_a_nul_character_is_the_spec_400_on_every_database(
    client: httpx.AsyncClient, open311_key: str, fmt: str, field: str
) -> None:
    """A NUL in a form field was stored on SQLite and refused by PostgreSQL's insert, answered
    there as problem+json (not the spec's error list) after any photo had been stored. Now it
    is refused with the spec's 400 on both, before anything is written."""
    values = form(first_name="建国", last_name="张", phone="13812341234")
    values[field] += "\x00"
    refused = await client.post(f"{BASE}/requests.{fmt}", data=values)
    assert "NUL" in assert_open311_error(refused, 400, fmt)
    assert (await client.get(f"{BASE}/requests.json")).json() == []


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("requests", {"service_request_id": "JL\x00"}),
        ("requests", {"service_code": "short_weight\x00"}),
        ("requests/JL%00", {}),
    ],
)
async def test_get_with_a_nul_character_is_the_spec_400_on_every_database(
    client: httpx.AsyncClient, fmt: str, path: str, params: dict[str, str]
) -> None:
    """PostgreSQL refuses a NUL in a query's text parameter: the GET answered problem+json there
    (an empty list or a 404 on SQLite) instead of the spec's error list."""
    response = await client.get(f"{BASE}/{path}.{fmt}", params=params)
    assert "NUL" in assert_open311_error(response, 400, fmt)
