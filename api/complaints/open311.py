"""Open311 GeoReport v2 at /open311/v2/, in .xml and .json (research/complaints.md §1).

Categories are the services. Requests are real-time (POST returns the tracking number as
``service_request_id``). Extensions: ``page``/``page_size`` on GET requests, multipart ``media``
(the v2.1 draft) on POST. Errors are the spec's ``errors`` list with the HTTP status. What GET
requests shows is public, so it carries no free text, no business and no person, and the
location is rounded to about 100 m; the submitter follows details through the app API.
This module holds the routes and the form parsing; the documents they answer with (XML/JSON,
errors, public request shapes) are built in ``api/complaints/open311_documents.py``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import col, select

from api.complaints import categories
from api.complaints.intake import submit_case
from api.complaints.media import get_media, ingest_photo
from api.complaints.models import OPEN_STATUSES, Case, CaseSource, Media
from api.complaints.open311_documents import (
    COMMON_ATTRIBUTES,
    COMMON_CODES,
    Open311Error,
    attribute_document,
    check_format,
    error,
    parse_date,
    public_request,
    render,
    service_document,
)
from api.complaints.schemas import CaseCreate
from api.complaints.settings import ComplaintsConfig, ComplaintsSettings
from api.complaints.storage import get_storage, temp_dir
from api.complaints.uploads import MultipartBody, receive
from portal.db import DbSession, utcnow
from portal.deps import SettingsDep
from portal.errors import GongzhiError
from portal.ratelimit import client_ip, get_rate_limiter
from portal.regions.models import Region
from portal.settings import Settings

# Open311 answers, errors included, in the format the path names (.xml or .json; XML when the
# format is unknown), as the GeoReport v2 specification says; the OpenAPI document says so too.
_SPEC_FORMATS: dict[str, Any] = {"content": {"text/xml": {}, "application/json": {}}}
router = APIRouter(
    prefix="/open311/v2",
    tags=["open311"],
    responses={
        200: {"description": "GeoReport v2 response", **_SPEC_FORMATS},
        400: {"description": "GeoReport v2 error list", **_SPEC_FORMATS},
        403: {"description": "GeoReport v2 error list", **_SPEC_FORMATS},
        404: {"description": "GeoReport v2 error list", **_SPEC_FORMATS},
        429: {"description": "GeoReport v2 error list", **_SPEC_FORMATS},
    },
)

SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-27T00:00:00Z"  # bump when the categories change
MAX_REQUESTS = 1000
MAX_PAGE = 100_000
_ATTRIBUTE = re.compile(r"^attribute\[(\w+)\](\[\])?$")


def _refuse_nul(values: Any) -> None:
    """A NUL is stored by SQLite and refused by PostgreSQL in any query (problem+json, not the
    spec's errors): refused here, in the spec's format, on every database."""
    if any("\x00" in value for value in values):
        raise Open311Error(400, "A field contains a NUL character")


def _check_jurisdiction(config: ComplaintsSettings, value: str | None) -> None:
    expected = config.open311_jurisdiction
    if value and expected and value != expected:
        raise Open311Error(404, f"Unknown jurisdiction_id {value}")


@router.get("/discovery.{fmt}", summary="Service discovery")
async def discovery(fmt: str, settings: SettingsDep) -> Response:
    try:
        fmt = check_format(fmt)
    except Open311Error as exc:
        return error("xml", exc.status, exc.description)
    base = settings.base_url.rstrip("/")
    return render(
        fmt,
        "discovery",
        {
            "changeset": CHANGESET,
            "contact": "12315；各地市场监督管理局",
            "key_service": f"{base}/ — 向平台管理员申请 Open311 api_key",
            "max_requests": MAX_REQUESTS,
            "endpoints": [
                {
                    "specification": SPEC,
                    "url": f"{base}/open311/v2",
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
    )


@router.get("/services.{fmt}", summary="Service list (the case categories)")
async def services(request: Request, fmt: str, config: ComplaintsConfig) -> Response:
    try:
        fmt = check_format(fmt)
        _check_jurisdiction(config, request.query_params.get("jurisdiction_id"))
    except Open311Error as exc:
        return error(fmt, exc.status, exc.description)
    return render(fmt, "services", [service_document(c) for c in categories.CATEGORIES])


@router.get("/services/{service_code}.{fmt}", summary="Service definition (its attributes)")
async def service_definition(
    request: Request, service_code: str, fmt: str, config: ComplaintsConfig
) -> Response:
    try:
        fmt = check_format(fmt)
        _check_jurisdiction(config, request.query_params.get("jurisdiction_id"))
        category = categories.get(service_code)
        if category is None:
            raise Open311Error(404, f"Unknown service_code {service_code}")
    except Open311Error as exc:
        return error(fmt, exc.status, exc.description)
    attrs = [*category.attributes, *COMMON_ATTRIBUTES]
    return render(
        fmt,
        "service_definition",
        {
            "service_code": category.code,
            "attributes": [attribute_document(a, i) for i, a in enumerate(attrs, start=1)],
        },
    )


async def _agency_names(session: Any, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = await session.execute(
        select(Region.code, Region.full_name).where(col(Region.code).in_(codes))
    )
    return {code: f"{name}市场监督管理局" for code, name in rows.all()}


@router.get("/requests.{fmt}", summary="Service requests (public fields only)")
async def list_requests(
    request: Request, fmt: str, session: DbSession, config: ComplaintsConfig
) -> Response:
    params = request.query_params
    try:
        fmt = check_format(fmt)
        _refuse_nul(value for _, value in params.multi_items())
        _check_jurisdiction(config, params.get("jurisdiction_id"))
        stmt = select(Case)
        ids = [i.strip() for i in (params.get("service_request_id") or "").split(",") if i.strip()]
        if ids:
            stmt = stmt.where(col(Case.tracking_number).in_(ids[:MAX_REQUESTS]))
        else:
            now = utcnow()
            end = parse_date(params["end_date"], "end_date") if params.get("end_date") else now
            start = (
                parse_date(params["start_date"], "start_date")
                if params.get("start_date")
                else end - timedelta(days=90)
            )
            if end < start or end - start > timedelta(days=90):
                raise Open311Error(400, "start_date..end_date must be a span of at most 90 days")
            stmt = stmt.where(col(Case.received_at) >= start, col(Case.received_at) <= end)
            codes = [c.strip() for c in (params.get("service_code") or "").split(",") if c.strip()]
            if codes:
                stmt = stmt.where(col(Case.category).in_(codes))
            statuses = {s.strip() for s in (params.get("status") or "").split(",") if s.strip()}
            if statuses - {"open", "closed"}:
                raise Open311Error(400, "status must be open, closed or both (comma separated)")
            if statuses == {"open"}:
                stmt = stmt.where(col(Case.status).in_([s.value for s in OPEN_STATUSES]))
            elif statuses == {"closed"}:
                stmt = stmt.where(col(Case.status).not_in([s.value for s in OPEN_STATUSES]))
        try:
            page = max(1, int(params.get("page") or 1))
            page_size = min(MAX_REQUESTS, max(1, int(params.get("page_size") or MAX_REQUESTS)))
        except ValueError:
            raise Open311Error(400, "page and page_size must be integers") from None
        if page > MAX_PAGE:  # its offset would not fit a database integer (a 500)
            raise Open311Error(400, f"page must be at most {MAX_PAGE}")
    except Open311Error as exc:
        return error(fmt, exc.status, exc.description)
    rows = list(
        await session.scalars(
            stmt.order_by(col(Case.received_at).desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    )
    agency = await _agency_names(session, {c.region_code for c in rows})
    return render(fmt, "service_requests", [public_request(c, agency) for c in rows])


@router.get("/requests/{service_request_id}.{fmt}", summary="One service request")
async def get_request(
    request: Request,
    service_request_id: str,
    fmt: str,
    session: DbSession,
    config: ComplaintsConfig,
) -> Response:
    try:
        fmt = check_format(fmt)
        _refuse_nul([service_request_id])
        _check_jurisdiction(config, request.query_params.get("jurisdiction_id"))
        case = await session.scalar(
            select(Case).where(col(Case.tracking_number) == service_request_id[:24])
        )
        if case is None:
            raise Open311Error(404, f"Unknown service_request_id {service_request_id}")
    except Open311Error as exc:
        return error(fmt, exc.status, exc.description)
    agency = await _agency_names(session, {case.region_code})
    return render(fmt, "service_requests", [public_request(case, agency)])


@router.get("/tokens/{token}.{fmt}", summary="Request id for a token")
async def token_lookup(
    request: Request, token: str, fmt: str, session: DbSession, config: ComplaintsConfig
) -> Response:
    """Requests are real-time, so POST answers with the id directly; for clients that keep the
    token anyway, the token of a request is its internal id (not a secret)."""
    try:
        fmt = check_format(fmt)
        _check_jurisdiction(config, request.query_params.get("jurisdiction_id"))
        import uuid

        try:
            case_id = uuid.UUID(token)
        except ValueError:
            raise Open311Error(404, f"Unknown token {token}") from None
        number = await session.scalar(select(Case.tracking_number).where(col(Case.id) == case_id))
        if number is None:
            raise Open311Error(404, f"Unknown token {token}")
    except Open311Error as exc:
        return error(fmt, exc.status, exc.description)
    return render(fmt, "service_requests", [{"service_request_id": number, "token": token}])


async def _read_post(
    request: Request, settings: Settings
) -> tuple[dict[str, list[str]], MultipartBody | None]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/"):
        body = await receive(
            request,
            tmp_dir=temp_dir(settings),
            max_file_bytes=settings.max_upload_bytes,
            file_fields=frozenset({"media", "media[]"}),
            max_files=9,
        )
        return body.fields, body
    form = await request.form()
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value)
    return fields, None


def _case_from_form(
    fields: dict[str, list[str]], media: list[Any]
) -> tuple[CaseCreate, str | None]:
    def one(name: str) -> str | None:
        values = fields.get(name)
        return values[0].strip() if values and values[0].strip() else None

    service_code = one("service_code")
    if not service_code:
        raise Open311Error(400, "service_code is required")
    category = categories.get(service_code)
    if category is None:
        raise Open311Error(404, f"Unknown service_code {service_code}")
    attributes: dict[str, Any] = {}
    for key, values in fields.items():
        match = _ATTRIBUTE.match(key)
        if match:
            attributes[match.group(1)] = values if match.group(2) else values[0]
    common = {k: attributes.pop(k) for k in list(attributes) if k in COMMON_CODES}
    lat, lng, address = one("lat"), one("long"), one("address_string")
    if not ((lat and lng) or address or one("address_id")):
        raise Open311Error(400, "A location is required: lat and long, or address_string")
    name = "".join(part for part in (one("last_name"), one("first_name")) if part) or None
    phone, email = one("phone"), one("email")
    person = None
    if name or phone or email:
        person = {"name": name, "phone": phone, "email": email}
    kind = str(common.get("case_kind") or "report")
    data: dict[str, Any] = {
        "kind": kind,
        "category": category.code,
        "description": one("description") or "",
        "business": {
            "name": common.get("business_name") or None,
            "uscc": common.get("business_uscc") or None,
            "address": address,
        },
        "region_code": common.get("region_code") or None,
        "instrument_token": common.get("instrument_token") or None,
        "certificate_number": common.get("certificate_number") or None,
        "request": common.get("request") or None,
        "extra": attributes,
        "complainant": person,
        "anonymous": person is None and kind == "report",
        "media": media,
    }
    if lat and lng:
        try:
            data["location"] = {"lat": float(lat), "lng": float(lng), "address": address}
        except ValueError:
            raise Open311Error(400, "lat and long must be numbers (WGS-84)") from None
    try:
        return CaseCreate.model_validate(data), one("media_url")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise Open311Error(400, problems) from None


@router.post("/requests.{fmt}", summary="Create a service request (api_key required)")
async def create_request(
    request: Request,
    fmt: str,
    session: DbSession,
    settings: SettingsDep,
    config: ComplaintsConfig,
) -> Response:
    body: MultipartBody | None = None
    stored: list[Media] = []
    try:
        fmt = check_format(fmt)
        keys = {k.strip() for k in config.open311_api_keys.split(",") if k.strip()}
        # api_key may come in the query string (some clients) or the form (the spec).
        query_key = request.query_params.get("api_key")
        await get_rate_limiter(request).enforce(
            config.case_rate_limit_client, "case_client", client_ip(request)
        )
        fields, body = await _read_post(request, settings)
        api_key = (fields.get("api_key") or [query_key or ""])[0]
        if not api_key or api_key not in keys:
            raise Open311Error(
                403, "Invalid api_key received -- can't proceed with create_request."
            )
        _refuse_nul([*fields, *(v for vs in fields.values() for v in vs)])  # before any write
        _check_jurisdiction(
            config,
            (fields.get("jurisdiction_id") or [request.query_params.get("jurisdiction_id", "")])[0],
        )
        for upload in body.files if body else []:
            ingested = await ingest_photo(session, upload, settings=settings, uploader=None)
            stored.append(await get_media(session, ingested.id))
        data, media_url = _case_from_form(fields, [m.id for m in stored])
        created, _ = await submit_case(
            session,
            data,
            settings=settings,
            user=None,
            # An integration posts for many citizens from one server: its key is the client.
            client=f"open311:{api_key}",
            idempotency_key=request.headers.get("idempotency-key"),
            source=CaseSource.open311,
            media_url=media_url[:1000] if media_url else None,
        )
    except (Open311Error, GongzhiError) as exc:
        await session.rollback()
        storage = get_storage(settings)
        for media in stored:
            for key in (media.original_key, media.display_key, media.thumbnail_key):
                try:
                    await storage.delete(key)
                except OSError:  # a store that is down: the orphan sweep removes them later
                    pass
        if isinstance(exc, Open311Error):
            return error(fmt, exc.status, exc.description)
        status = exc.status if exc.status in (403, 404, 413, 415, 429) else 400
        response = error(fmt, status, f"{exc.detail} ({exc.code})")
        if exc.headers:
            response.headers.update(exc.headers)
        return response
    finally:
        if body is not None:
            body.discard()
    notice = f"已受理登记，受理编号 {created.tracking_number}；查询码（仅显示一次，请妥善保存）：{created.access_token}"
    return render(
        fmt,
        "service_requests",
        [{"service_request_id": created.tracking_number, "service_notice": notice}],
        201,
    )


@router.api_route(
    "/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False
)
async def not_found(rest: str) -> Response:
    fmt = "json" if rest.endswith(".json") else "xml"
    return error(fmt, 404, f"Unknown Open311 resource /{rest}")
