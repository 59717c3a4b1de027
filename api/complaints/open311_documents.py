"""Open311 GeoReport v2 documents: the two wire formats (XML and JSON), the spec's error list,
and the public shapes of services, attributes and service requests. The routes are in
``api/complaints/open311.py``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, time
from typing import Any

from fastapi.responses import Response

from api.complaints import categories
from api.complaints.coords import public_point
from api.complaints.models import OPEN_STATUSES, Case, CaseStatus
from api.complaints.vocabulary import FINDING_NAMES, status_name
from portal.clock import SHANGHAI

FORMATS = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}

# Fields every service takes besides its category's own attributes.
COMMON_ATTRIBUTES = [
    categories.Attribute(
        "case_kind",
        "类型：举报（可匿名）或投诉（须实名、留电话）",
        "singlevaluelist",
        False,
        [("report", "举报"), ("complaint", "投诉"), ("both", "投诉并举报")],
    ),
    categories.Attribute("business_name", "经营者名称", "string", False, max_length=200),
    categories.Attribute("business_uscc", "统一社会信用代码", "string", False, max_length=18),
    categories.Attribute("request", "投诉诉求（投诉必填）", "text", False, max_length=2000),
    categories.Attribute("region_code", "行政区划代码（6 位）", "string", False, max_length=6),
    categories.Attribute("instrument_token", "检定标志二维码", "string", False, max_length=128),
    categories.Attribute("certificate_number", "检定证书编号", "string", False, max_length=64),
]
COMMON_CODES = {a.code for a in COMMON_ATTRIBUTES}


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        self.status = status
        self.description = description


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"Unknown format .{fmt}; use .xml or .json")
    return fmt


def xml_node(parent: ET.Element, name: str, value: Any) -> None:
    node = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, item in value.items():
            xml_node(node, key, item)
    elif isinstance(value, list):
        child = XML_CHILD.get(name, name.rstrip("s"))
        for item in value:
            xml_node(node, child, item)
    elif isinstance(value, bool):
        node.text = "true" if value else "false"
    elif value is not None:
        node.text = str(value)


XML_CHILD = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def render(fmt: str, root: str, data: Any, status: int = 200) -> Response:
    if fmt == "json":
        import json

        return Response(
            json.dumps(data, ensure_ascii=False), status_code=status, media_type=FORMATS["json"]
        )
    element = ET.Element(root)
    if isinstance(data, list):
        child = XML_CHILD[root]
        for item in data:
            xml_node(element, child, item)
    else:
        for key, value in data.items():
            xml_node(element, key, value)
    body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="utf-8")
    return Response(body, status_code=status, media_type=FORMATS["xml"])


def error(fmt: str, status: int, description: str) -> Response:
    fmt = fmt if fmt in FORMATS else "xml"
    return render(fmt, "errors", [{"code": status, "description": description}], status)


def w3c(moment: datetime | None) -> str | None:
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds") if moment else None


def service_document(category: categories.Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description,
        "metadata": True,
        "type": "realtime",
        "keywords": category.keywords,
        "group": "计量",
    }


def attribute_document(attr: categories.Attribute, order: int) -> dict[str, Any]:
    return {
        "variable": True,
        "code": attr.code,
        "datatype": attr.datatype,
        "required": attr.required,
        "datatype_description": attr.datatype_description,
        "order": order,
        "description": attr.description,
        "values": [{"key": k, "name": n} for k, n in attr.values],
    }


def public_request(case: Case, agency: dict[str, str]) -> dict[str, Any]:
    category = categories.get(case.category)
    closed = case.status not in OPEN_STATUSES
    due = case.acceptance_due if case.status is CaseStatus.received else case.handling_due
    if case.status is CaseStatus.received and case.acceptance_due is None:
        due = case.handling_due
    expected = (
        datetime.combine(due, time(23, 59, 59), tzinfo=SHANGHAI) if due and not closed else None
    )
    notes = status_name(case)
    if case.finding is not None:
        notes += f"（{FINDING_NAMES[case.finding]}）"
    public = (
        public_point(case.lat, case.lng) if case.lat is not None and case.lng is not None else None
    )
    return {
        "service_request_id": case.tracking_number,
        "status": "closed" if closed else "open",
        "status_notes": notes,
        "service_name": category.name if category else case.category,
        "service_code": case.category,
        "description": "",
        "agency_responsible": agency.get(case.region_code, ""),
        "service_notice": "",
        "requested_datetime": w3c(case.received_at),
        "updated_datetime": w3c(case.closed_at or case.concluded_at or case.updated_at),
        "expected_datetime": w3c(expected),
        "address": "",
        "address_id": "",
        "zipcode": "",
        "lat": public[0] if public else "",
        "long": public[1] if public else "",
        "media_url": "",
    }


EARLIEST_DATE = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_DATE = datetime(9998, 12, 31, tzinfo=UTC)


def parse_date(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(
            400, f"{name} must be a W3C date-time, e.g. 2026-01-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    # 0001-01-01 in Shanghai is before year 1 in UTC, and the list looks 90 days back from a
    # date: near datetime's ends either overflows (a 500). No service request is dated so.
    out_of_range = Open311Error(
        400, f"{name} must be between {EARLIEST_DATE:%Y-%m-%d} and {LATEST_DATE:%Y-%m-%d}"
    )
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise out_of_range from None
    if not EARLIEST_DATE <= moment <= LATEST_DATE:
        raise out_of_range
    return moment
