"""Portal pages: the phone-friendly complaint/report form, the tracking page, the staff queue and
the staff case page. The form talks to the JSON API from static/js/complaints.js."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.complaints import categories
from api.complaints.intake import resolve_instrument
from api.complaints.models import CaseKind, CaseStatus, Finding
from api.complaints.schemas import STAFF_ACTIONS
from api.complaints.staff import staff_case as load_staff_case
from api.complaints.staff import staff_queue as load_staff_queue
from api.complaints.tracking import case_for_tracker
from api.complaints.vocabulary import FINDING_NAMES, REJECT_REASONS, STATUS_NAMES
from api.complaints.workflow import apply_action
from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action, authorize
from portal.db import DbSession
from portal.deps import SettingsDep
from portal.errors import GongzhiError
from portal.pagination import PageRequest
from portal.privacy import mask_person_name, mask_phone
from portal.web import render

router = APIRouter(include_in_schema=False)


# What the staff case page may say went wrong with an action: a fixed set of codes, each with a
# fixed message. The redirect after a refused action carries only the code, so a link with
# ``?error=<anything>`` can never put words of someone else's choosing on a regulator's screen
# (issue 11 #12); an unknown code shows nothing.
ACTION_ERRORS = {
    "illegal_transition": "案件当前状态不能执行该操作。",
    "case_action_invalid": "操作信息不完整或不符合要求，请检查后重试。",
    "region_forbidden": "该操作涉及的案件不在您的管辖范围内。",
    "forbidden": "您没有执行该操作的权限。",
    "case_not_found": "案件不存在。",
    "form_invalid": "操作信息不完整，请检查后重试。",
}


def _action_error_code(exc: Exception) -> str:
    code = exc.code if isinstance(exc, GongzhiError) else "form_invalid"
    return code if code in ACTION_ERRORS else "case_action_invalid"


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
    return render(
        request,
        "complaints/new.html",
        {
            "user": user,
            "categories": categories.CATEGORIES,
            # a sticker's page names the category its state calls for (未检定或超期)
            "selected_category": (
                category if category in categories.BY_CODE else categories.CATEGORIES[0].code
            ),
            "instrument_token": instrument_token,
            "certificate_number": certificate_number,
            "instrument": instrument,
            "max_upload_mb": settings.max_upload_bytes // (1024 * 1024),
        },
    )


@router.get("/complaints/track")
async def track_form(request: Request, user: OptionalUser) -> Response:
    return render(request, "complaints/track.html", {"user": user, "case": None, "error": None})


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
        case = await case_for_tracker(
            session,
            tracking_number.strip().upper(),
            settings=settings,
            token=access_token.strip() or None,
            user=user,
        )
    except GongzhiError as exc:
        return render(
            request,
            "complaints/track.html",
            {"user": user, "case": None, "error": exc.detail_zh, "number": tracking_number},
            status_code=exc.status,
        )
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
    return render(
        request,
        "complaints/staff_queue.html",
        {
            "user": user,
            "items": items,
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
    error: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    denied = _staff_guard(request, user)
    if denied is not None:
        return denied
    assert user is not None
    try:
        case = await load_staff_case(session, case_id, settings=settings, actor=user)
    except GongzhiError as exc:
        return render(
            request,
            "complaints/staff_denied.html",
            {"user": user, "error": exc.detail_zh},
            status_code=exc.status,
        )
    return render(
        request,
        "complaints/staff_case.html",
        {
            "user": user,
            "case": case,
            "error": ACTION_ERRORS.get(error or ""),
            "reject_reasons": REJECT_REASONS,
            "findings": FINDING_NAMES,
            "complaint": case.kind is CaseKind.complaint,
            "mask_person_name": mask_person_name,
            "mask_phone": mask_phone,
        },
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
                ),
            )
        )
        await apply_action(session, case_id, data, settings=settings, actor=user)
    except (GongzhiError, ValidationError, ValueError) as exc:
        await session.rollback()
        return RedirectResponse(
            f"/staff/complaints/{case_id}?error={_action_error_code(exc)}", status_code=303
        )
    return RedirectResponse(f"/staff/complaints/{case_id}", status_code=303)


@dataclass(frozen=True)
class FormFields:
    """The staff case page's one form: every action's inputs, empty when not shown."""

    body: str
    reason_code: str
    finding: str
    public: str
    duplicate_of: str


def _action_fields(action: str, form: FormFields) -> dict[str, Any]:
    """The JSON an action takes, from the form: only the fields that action has."""
    fields: dict[str, Any] = {"action": action}
    if action != "assign":
        fields["body"] = form.body or None
    if action == "reject":
        fields["reason_code"] = form.reason_code or None
    if action == "conclude":
        fields["finding"] = Finding(form.finding) if form.finding else None
    if action == "note":
        fields["public"] = form.public == "1"
    if action == "merge":
        fields["duplicate_of"] = form.duplicate_of.strip().upper() or None
    return fields
