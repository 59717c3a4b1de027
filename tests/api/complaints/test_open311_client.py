"""A real Open311 client library (``georeport`` from PyPI) against a real server process.

``georeport`` lists services, reads service definitions and requests, in JSON and XML; it has no
POST, so the request is created with a plain form-encoded POST as the spec describes, then read
back through the library."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from georeport import GeoReport

from tests.support import served_portal

KEY = "client-test-key"


@pytest.fixture(scope="module")
def open311_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("open311")
    with served_portal(root, env={"GONGZHI_OPEN311_API_KEYS": KEY}) as base:
        yield f"{base}/open311/v2"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_lists_posts_and_reads_back(open311_server: str, fmt: str) -> None:
    client = GeoReport(open311_server, api_key=KEY, output_format=fmt)
    services = client.get_service_list()
    codes = [s["service_code"] for s in services]
    assert "short_weight" in codes
    assert "cheating_device" in codes
    short_weight = next(s for s in services if s["service_code"] == "short_weight")
    assert short_weight["service_name"] == "缺斤短两"

    definition = client.get_service_definition("cheating_device")
    attributes = definition["attributes"]
    if fmt == "xml":  # xmltodict nests repeated elements one level down
        attributes = attributes["attribute"]
    assert "instrument_kind" in {a["code"] for a in attributes}

    created = httpx.post(
        f"{open311_server}/requests.{fmt}",
        data={
            "api_key": KEY,
            "service_code": "cheating_device",
            "lat": "34.3297",
            "long": "108.7093",
            "address_string": "咸阳市秦都区渭阳西路加油站",
            "description": "加油机疑似加装遥控作弊装置。",
            "attribute[instrument_kind]": "fuel_dispenser",
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    if fmt == "json":
        number = created.json()[0]["service_request_id"]
    else:
        import xml.etree.ElementTree as ET

        number = ET.fromstring(created.content).findtext("request/service_request_id")
    request = client.get_service_request(number)
    assert request["service_request_id"] == number
    assert request["service_code"] == "cheating_device"
    assert request["status"] == "open"
    listed = client.get_service_requests(service_code="cheating_device")
    if isinstance(listed, dict):  # xmltodict: a single <request> is not a list
        listed = [listed]
    assert number in {r["service_request_id"] for r in listed}
