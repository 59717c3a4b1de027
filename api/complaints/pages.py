"""Portal pages: the phone-friendly complaint/report form, the tracking page, the staff queue and
the staff case page. The form talks to the JSON API from static/js/complaints.js."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints import categories
from api.complaints.categories import describe_extra
from api.complaints.documents import pdf_of, pdf_response
from api.complaints.intake import resolve_instrument
from api.complaints.models import OPEN_STATUSES, CaseKind, CaseStatus, Finding
from api.complaints.schemas import STAFF_ACTIONS, TESTING_KINDS, CaseFeedback
from api.complaints.settings import ComplaintsSettings
from api.complaints.staff import document_for_staff, load_for_staff
from api.complaints.staff import staff_case as load_staff_case
from api.complaints.staff import staff_queue as load_staff_queue
from api.complaints.tracking import (
    case_for_owner,
    case_for_tracker,
    cases_of_user,
    document_for_tracker,
    give_feedback,
    last_contact_of_user,
)
from api.complaints.vocabulary import (
    ACTION_LABELS,
    FINDING_NAMES,
    REJECT_REASONS,
    STAFF_EVENT_TITLES,
    STATUS_NAMES,
)
from api.complaints.workflow import apply_action, available_actions
from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action, authorize
from portal.db import DbSession
from portal.deps import SettingsDep
from portal.errors import GongzhiError
from portal.pagination import PageRequest
from portal.privacy import mask_person_name, mask_phone
from portal.ratelimit import client_ip, get_rate_limiter
from portal.regions.models import Region
from portal.settings import Settings
from portal.web import render, render_public

router = APIRouter(include_in_schema=False)


@router.get("/complaints/new")
async def new_case(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    settings: SettingsDep,
    instrument_token: str | None = None,
    certificate_number: str | None = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    instrument_token = (instrument_token or "")[:128] or None
    certificate_number = (certificate_number or "")[:64] or None
    instrument = await resolve_instrument(
        session, instrument_token=instrument_token, certificate_number=certificate_number
    )
    # A logged-in citizen does not type their name and phone again (issue 14).
    contact_name, contact_phone = (
        await last_contact_of_user(session, user) if user is not None else (None, None)
    )
    return render_public(
        request,
        "complaints/new.html",
        {
            "user": user,
            "categories": categories.CATEGORIES,
            # A sticker's page names the category its state calls for (expired, revoked, never
            # verified: 未检定或超期); a valid instrument's report starts at the first category.
            "selected_category": (
                category if category in categories.BY_CODE else categories.CATEGORIES[0].code
            ),
            "instrument_token": instrument_token,
            "certificate_number": certificate_number,
            "instrument": instrument,
            "max_upload_mb": settings.max_upload_bytes // (1024 * 1024),
            "contact_name": contact_name or (user.display_name if user else None),
            "contact_phone": contact_phone,
            "retention_years": (
                f"{settings.of(ComplaintsSettings).complaint_personal_data_retention_days / 365:.1f}".removesuffix(
                    ".0"
                )
            ),
            "map_tile_url": settings.map_tile_url,
            "map_attribution": settings.map_attribution,
        },
    )


@router.get("/complaints/mine")
async def my_cases(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> Response:
    """我的投诉: the cases a citizen filed while logged in, newest first."""
    if user is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    per_page = 20
    items, total = await cases_of_user(
        session, user, page=PageRequest(page=page, per_page=per_page)
    )
    return render(
        request,
        "complaints/mine.html",
        {
            "user": user,
            "items": items,
            "total": total,
            "page": page,
            "has_next": page * per_page < total,
            # A deadline is shown only while the case is open: a closed case has none left.
            "open_statuses": {status.value for status in OPEN_STATUSES},
        },
    )


@router.get("/complaints/track")
async def track_form(request: Request, user: OptionalUser) -> Response:
    return render_public(
        request, "complaints/track.html", {"user": user, "case": None, "error": None}
    )


async def _limit_code_tries(request: Request, settings: Settings, code: str | None) -> None:
    """Tries of a 查询码 count against the client's limit (docs/reliability.md)."""
    if code:
        await get_rate_limiter(request).enforce(
            settings.of(ComplaintsSettings).track_rate_limit_client,
            "track_client",
            client_ip(request),
        )


def _track_refused(
    request: Request, user: User | None, exc: GongzhiError, tracking_number: str
) -> Response:
    return render(
        request,
        "complaints/track.html",
        {"user": user, "case": None, "error": exc.detail_zh, "number": tracking_number},
        status_code=exc.status,
    )


@router.post("/complaints/track")
async def track_submit(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    user: OptionalUser,
    tracking_number: Annotated[str, Form(max_length=24)],
    access_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    try:
        await _limit_code_tries(request, settings, access_token.strip() or None)
        case = await case_for_tracker(
            session,
            tracking_number.strip().upper(),
            settings=settings,
            token=access_token.strip() or None,
            user=user,
        )
    except GongzhiError as exc:
        return _track_refused(request, user, exc, tracking_number)
    return render(
        request,
        "complaints/track.html",
        {"user": user, "case": case, "error": None, "code": access_token.strip()},
    )


@router.post("/complaints/track/feedback")
async def track_feedback(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    user: OptionalUser,
    tracking_number: Annotated[str, Form(max_length=24)],
    rating: Annotated[int, Form(ge=1, le=5)],
    access_token: Annotated[str, Form(max_length=128)] = "",
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """回访 from the tracking page: the rating, then the case again with a thank-you."""
    number, code = tracking_number.strip().upper(), access_token.strip() or None
    try:
        await _limit_code_tries(request, settings, code)
        await give_feedback(
            session,
            number,
            CaseFeedback(rating=rating, comment=comment.strip() or None),
            token=code,
            user=user,
        )
        case = await case_for_tracker(session, number, settings=settings, token=code, user=user)
    except GongzhiError as exc:
        return _track_refused(request, user, exc, tracking_number)
    return render(
        request,
        "complaints/track.html",
        {"user": user, "case": case, "error": None, "thanks": True, "code": code or ""},
    )


@router.post("/complaints/track/document")
async def track_document(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    user: OptionalUser,
    tracking_number: Annotated[str, Form(max_length=24)],
    document_id: Annotated[uuid.UUID, Form()],
    access_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """A document of the case (受理通知书…) for its submitter: the 查询码 again, or the account."""
    number, code = tracking_number.strip().upper(), access_token.strip() or None
    config = settings.of(ComplaintsSettings)
    try:
        await _limit_code_tries(request, settings, code)
        document = await document_for_tracker(
            session, number, document_id, config=config, token=code, user=user
        )
        return pdf_response(document, await pdf_of(document, config))
    except GongzhiError as exc:
        return _track_refused(request, user, exc, tracking_number)


@router.get("/complaints/mine/{tracking_number}")
async def my_case(
    request: Request,
    tracking_number: Annotated[str, Path(max_length=24)],
    session: DbSession,
    settings: SettingsDep,
    user: OptionalUser,
) -> Response:
    """One of 我的投诉: its owner follows it without the 查询码."""
    if user is None:
        return RedirectResponse("/login?next=/complaints/mine", status_code=303)
    try:
        case = await case_for_owner(session, tracking_number.upper(), settings=settings, user=user)
    except GongzhiError as exc:
        return _track_refused(request, user, exc, tracking_number)
    return render(request, "complaints/track.html", {"user": user, "case": case, "error": None})


def _staff_guard(request: Request, user: User | None) -> Response | None:
    if user is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    try:
        authorize(user, Action.case_handle)
    except GongzhiError as exc:
        return render(
            request,
            "complaints/staff_denied.html",
            {"user": user, "error": exc.detail_zh},
            status_code=403,
        )
    return None


@router.get("/staff/complaints")
async def staff_queue(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    status: str | None = None,
    overdue: str | None = None,
) -> Response:
    denied = _staff_guard(request, user)
    if denied is not None:
        return denied
    assert user is not None
    status_value = CaseStatus(status) if status and status in CaseStatus.__members__ else None
    items, total = await load_staff_queue(
        session,
        user,
        status=status_value,
        region=None,
        overdue=True if overdue == "1" else None,
        kind=None,
        page=PageRequest(page=1, per_page=100),
    )
    codes = {item.region_code for item in items}
    regions = await session.scalars(select(Region).where(col(Region.code).in_(codes)))
    return render(
        request,
        "complaints/staff_queue.html",
        {
            "user": user,
            "items": items,
            "region_names": {region.code: region.name for region in regions},
            "total": total,
            "status": status_value,
            "overdue": overdue == "1",
            "statuses": STATUS_NAMES,
        },
    )


@router.get("/staff/complaints/{case_id}")
async def staff_case(
    request: Request,
    case_id: uuid.UUID,
    session: DbSession,
    settings: SettingsDep,
    user: OptionalUser,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    denied = _staff_guard(request, user)
    if denied is not None:
        return denied
    assert user is not None
    return await _render_staff_case(
        request, session, settings, user, case_id, done=done, error=None, status_code=200
    )


async def _render_staff_case(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    user: User,
    case_id: uuid.UUID,
    *,
    done: str | None,
    error: str | None,
    status_code: int,
) -> Response:
    try:
        case = await load_staff_case(session, case_id, settings=settings, actor=user)
        record = await load_for_staff(session, case_id, user)
    except GongzhiError as exc:
        return render(
            request,
            "complaints/staff_denied.html",
            {"user": user, "error": exc.detail_zh},
            status_code=exc.status,
        )
    region = await session.get(Region, case.region_code)
    # The bureaus a dispatch or a dispute names, by name (the codes stay in the API).
    codes = {case.dispatched_from, case.dispute_region, case.dispute_escalated_to} - {None}
    named = await session.scalars(select(Region).where(col(Region.code).in_(codes)))
    return render(
        request,
        "complaints/staff_case.html",
        {
            "user": user,
            "case": case,
            "region_name": region.full_name if region else case.region_code,
            "bureaus": {r.code: r.full_name for r in named} | {"000000": "国家市场监督管理总局"},
            "extra_rows": describe_extra(case.category, case.extra),
            "event_titles": STAFF_EVENT_TITLES,
            "actions": available_actions(record),
            "action_labels": ACTION_LABELS,
            "done": ACTION_LABELS.get(done or ""),
            "error": error,
            "reject_reasons": REJECT_REASONS,
            "findings": FINDING_NAMES,
            "testing_kinds": TESTING_KINDS,
            "dispute_days": settings.of(ComplaintsSettings).jurisdiction_dispute_working_days,
            "complaint": case.kind is CaseKind.complaint,
            "mask_person_name": mask_person_name,
            "mask_phone": mask_phone,
        },
        status_code=status_code,
    )


@router.get("/staff/complaints/{case_id}/documents/{document_id}")
async def staff_document(
    request: Request,
    case_id: uuid.UUID,
    document_id: uuid.UUID,
    session: DbSession,
    settings: SettingsDep,
    user: OptionalUser,
) -> Response:
    denied = _staff_guard(request, user)
    if denied is not None:
        return denied
    assert user is not None
    config = settings.of(ComplaintsSettings)
    try:
        document = await document_for_staff(
            session, case_id, document_id, config=config, actor=user
        )
        return pdf_response(document, await pdf_of(document, config))
    except GongzhiError as exc:
        return render(
            request,
            "complaints/staff_denied.html",
            {"user": user, "error": exc.detail_zh or exc.title_zh},
            status_code=exc.status,
        )


@router.post("/staff/complaints/{case_id}/actions")
async def staff_action(
    request: Request,
    case_id: uuid.UUID,
    session: DbSession,
    settings: SettingsDep,
    user: OptionalUser,
    action: Annotated[str, Form(max_length=16)],
    body: Annotated[str, Form(max_length=4000)] = "",
    reason_code: Annotated[str, Form(max_length=40)] = "",
    finding: Annotated[str, Form(max_length=32)] = "",
    public: Annotated[str, Form(max_length=4)] = "",
    duplicate_of: Annotated[str, Form(max_length=24)] = "",
    testing: Annotated[str, Form(max_length=8)] = "",
    filing: Annotated[str, Form(max_length=16)] = "",
    mediation_result: Annotated[str, Form(max_length=16)] = "",
    region_code: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    denied = _staff_guard(request, user)
    if denied is not None:
        return denied
    assert user is not None
    try:
        data = STAFF_ACTIONS.validate_python(
            _action_fields(
                action,
                FormFields(
                    body=body,
                    reason_code=reason_code,
                    finding=finding,
                    public=public,
                    duplicate_of=duplicate_of,
                    testing=testing,
                    filing=filing,
                    mediation_result=mediation_result,
                    region_code=region_code,
                ),
            )
        )
        await apply_action(session, case_id, data, settings=settings, actor=user)
    except (GongzhiError, ValidationError, ValueError) as exc:
        await session.rollback()
        # The case page again, with what went wrong in the words of the rule that refused it.
        if isinstance(exc, GongzhiError):
            message, status_code = exc.detail_zh or exc.title_zh, exc.status
        else:
            message, status_code = "操作信息不完整或不符合要求，请检查后重试。", 422
        return await _render_staff_case(
            request,
            session,
            settings,
            user,
            case_id,
            done=None,
            error=f"“{ACTION_LABELS.get(action, action)}”未完成：{message}",
            status_code=status_code,
        )
    if action == "transfer":  # the case is another bureau's now: back to one's own queue
        return RedirectResponse("/staff/complaints", status_code=303)
    return RedirectResponse(f"/staff/complaints/{case_id}?done={action}", status_code=303)


@dataclass(frozen=True)
class FormFields:
    """The staff case page's one form: every action's inputs, empty when not shown."""

    body: str
    reason_code: str
    finding: str
    public: str
    duplicate_of: str
    testing: str
    filing: str = ""
    mediation_result: str = ""
    region_code: str = ""


def _action_fields(action: str, form: FormFields) -> dict[str, Any]:
    """The JSON an action takes, from the form: only the fields that action has."""
    fields: dict[str, Any] = {"action": action}
    if action != "assign":
        fields["body"] = form.body or None
    if action == "reject":
        fields["reason_code"] = form.reason_code or None
    if action == "conclude":
        fields["finding"] = Finding(form.finding) if form.finding else None
        fields["filing"] = form.filing or None
        fields["mediation_result"] = form.mediation_result or None
    if action == "note":
        fields["public"] = form.public == "1"
    if action in ("merge", "repeat"):
        fields["duplicate_of"] = form.duplicate_of.strip().upper() or None
    if action == "pause":
        fields["testing"] = form.testing or None
    if action in ("transfer", "dispatch", "dispute"):
        fields["region_code"] = form.region_code.strip() or None
    return fields
