"""Portal pages: the phone-friendly complaint/report form, the tracking page, the staff queue and
the staff case page. The form talks to the JSON API from static/js/complaints.js."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.complaints import categories, service
from api.complaints.models import CaseKind, CaseStatus, Finding
from api.complaints.schemas import StaffAction
from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action, authorize
from portal.db import DbSession
from portal.errors import GongzhiError
from portal.privacy import mask_person_name, mask_phone
from portal.settings import Settings
from portal.web import render

router = APIRouter(include_in_schema=False)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("/complaints/new")
async def new_case(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    instrument_token: str | None = None,
    certificate_number: str | None = None,
) -> Response:
    instrument_token = (instrument_token or "")[:128] or None
    certificate_number = (certificate_number or "")[:64] or None
    instrument = await service.resolve_instrument(
        session, instrument_token=instrument_token, certificate_number=certificate_number
    )
    return render(
        request,
        "complaints/new.html",
        {
            "user": user,
            "categories": categories.CATEGORIES,
            "instrument_token": instrument_token,
            "certificate_number": certificate_number,
            "instrument": instrument,
            "max_upload_mb": _settings(request).max_upload_bytes // (1024 * 1024),
        },
    )


@router.get("/complaints/track")
async def track_form(request: Request, user: OptionalUser) -> Response:
    return render(request, "complaints/track.html", {"user": user, "case": None, "error": None})


@router.post("/complaints/track")
async def track_submit(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    tracking_number: Annotated[str, Form(max_length=24)],
    access_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    try:
        case = await service.case_for_tracker(
            session,
            _settings(request),
            tracking_number.strip().upper(),
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
    items, total = await service.staff_queue(
        session,
        user,
        status=status_value,
        region=None,
        overdue=True if overdue == "1" else None,
        kind=None,
        limit=100,
        offset=0,
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
            "statuses": service.STATUS_NAMES,
        },
    )


@router.get("/staff/complaints/{case_id}")
async def staff_case(
    request: Request,
    case_id: uuid.UUID,
    session: DbSession,
    user: OptionalUser,
    error: str | None = None,
) -> Response:
    denied = _staff_guard(request, user)
    if denied is not None:
        return denied
    assert user is not None
    try:
        case = await service.staff_case(session, _settings(request), case_id, user)
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
            "error": error,
            "reject_reasons": service.REJECT_REASONS,
            "findings": service.FINDING_NAMES,
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
        data = StaffAction.model_validate(
            {
                "action": action,
                "body": body or None,
                "reason_code": reason_code or None,
                "finding": Finding(finding) if finding else None,
                "public": public == "1",
                "duplicate_of": duplicate_of.strip().upper() or None,
            }
        )
        await service.apply_action(session, _settings(request), case_id, data, user)
    except (GongzhiError, ValidationError, ValueError) as exc:
        await session.rollback()
        message = exc.detail_zh if isinstance(exc, GongzhiError) else "操作信息不完整"
        from urllib.parse import quote

        return RedirectResponse(
            f"/staff/complaints/{case_id}?error={quote(message)}", status_code=303
        )
    return RedirectResponse(f"/staff/complaints/{case_id}", status_code=303)
