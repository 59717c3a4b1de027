"""Portal pages: the owner's instruments (register one, upload a file, see each one's state and
due day) and the bureau's registrations to confirm or reject. Chinese first, phone first."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import col

from api.instruments import applications, imports, registration, review
from api.instruments.errors import RegistrationFileTooLarge
from api.instruments.models import ApplicationStatus, RegistrationStatus
from api.instruments.schemas import (
    VERIFICATION_STATUS_ZH,
    ApplicationCreate,
    AppointmentRequest,
    InstrumentRegistrationCreate,
    RegistrationChange,
)
from api.instruments.settings import InstrumentsConfig, InstrumentsSettings
from portal import clock, facts
from portal.accounts.auth import OptionalUser
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.accounts.permissions import Action, role_allows
from portal.db import DbSession
from portal.errors import GongzhiError
from portal.pagination import PageRequest, page_number
from portal.web import render

router = APIRouter(include_in_schema=False)

FIELDS = [
    ("category_code", "器具类别"),
    ("model", "型号规格"),
    ("serial", "出厂编号"),
    ("manufacturer", "制造单位"),
    ("location", "安装位置"),
    ("usage_area", "用途"),
    ("dn", "公称口径 DN（毫米，水表、热能表必填）"),
    ("medium", "介质（燃气表必填）"),
    ("qmax", "最大流量 Qmax（m³/h，燃气表必填）"),
    ("accuracy_class", "准确度等级（电能表）"),
    ("in_use_since", "启用日期"),
    ("last_verified_on", "上次检定日期（证书不在本平台时填写）"),
]
ATTRIBUTES = ("dn", "medium", "qmax", "accuracy_class")
# The colour of each state (static/css/instruments.css), with the words that say it.
TONES = {
    "valid": "ok",
    "expiring": "warn",
    "not_due": "info",
    "expired": "bad",
    "replace": "bad",
    "failed": "bad",
    "revoked": "bad",
    "none": "bad",
    "retired": "muted",
    "rejected": "muted",
}


def _login(request: Request) -> Response:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _forbidden(request: Request, user: User) -> Response:
    return render(request, "error.html", {"status": 403, "user": user}, status_code=403)


async def _owner_page(
    request: Request,
    session: DbSession,
    user: User,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message_error: str | None = None,
    message_ok: str | None = None,
    report: Any = None,
    status_code: int = 200,
) -> Response:
    owner = await registration.acting_owner(session, user)
    page = page_number(request.query_params.get("page"), last=10_000)
    rows, total = await review.list_registrations(
        session, actor=user, page=PageRequest(page=page, per_page=50)
    )
    items = await review.read_models(session, rows)
    return render(
        request,
        "instruments/owner.html",
        {
            "user": user,
            "owner": owner,
            "items": items,
            "total": total,
            "tones": TONES,
            "fields": FIELDS,
            "categories": facts.instrument_categories(),
            "values": values or {"usage_area": "贸易结算"},
            "errors": errors or {},
            "message_error": message_error,
            "message_ok": message_ok,
            "report": report,
            "today": clock.today().isoformat(),
        },
        status_code=status_code,
    )


@router.get("/owner/instruments")
async def owner_instruments(request: Request, session: DbSession, user: OptionalUser) -> Response:
    if user is None:
        return _login(request)
    if user.role != Role.owner:
        return _forbidden(request, user)
    registered = request.query_params.get("registered", "")[:100]
    message = (
        f"出厂编号为 {registered} 的器具已登记，等待市场监管部门确认。" if registered else None
    )
    changed = request.query_params.get("changed", "")
    if changed in ("moved", "retired"):
        message = "已记录变更，市场监管部门可以看到。"
    return await _owner_page(request, session, user, message_ok=message)


@router.post("/owner/instruments")
async def owner_register(request: Request, session: DbSession, user: OptionalUser) -> Response:
    if user is None:
        return _login(request)
    if user.role != Role.owner:
        return _forbidden(request, user)
    form = await request.form()
    values = {name: str(form.get(name) or "").strip()[:300] for name, _ in FIELDS}
    labels = dict(FIELDS)
    try:
        data = InstrumentRegistrationCreate.model_validate(
            {
                **{k: v for k, v in values.items() if v and k not in ATTRIBUTES},
                "attributes": {k: values[k] for k in ATTRIBUTES if values[k]},
            }
        )
        created = await registration.register_instrument(session, data, actor=user)
    except ValidationError as exc:
        errors = {
            str(e["loc"][0]): f"请检查{labels.get(str(e['loc'][0]), '')}。"
            for e in exc.errors()
            if e["loc"]
        }
        return await _owner_page(
            request, session, user, values=values, errors=errors,
            message_error="有几项需要修改，见各项下方的说明。", status_code=422,
        )  # fmt: skip
    except GongzhiError as exc:
        errors = {
            str(e.get("field")).removeprefix("attributes."): str(e.get("message_zh"))
            for e in exc.errors or []
        }
        await session.rollback()
        return await _owner_page(
            request, session, user, values=values, errors=errors,
            message_error=exc.detail_zh or exc.title_zh, status_code=exc.status,
        )  # fmt: skip
    return RedirectResponse(
        f"/owner/instruments?registered={quote(created.serial)}", status_code=303
    )


@router.post("/owner/instruments/import")
async def owner_import(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    config: InstrumentsConfig,
    file: Annotated[UploadFile, File()],
) -> Response:
    if user is None:
        return _login(request)
    if user.role != Role.owner:
        return _forbidden(request, user)
    data = await file.read(config.registration_import_max_bytes + 1)
    try:
        if len(data) > config.registration_import_max_bytes:
            raise RegistrationFileTooLarge(detail_zh="文件过大，请拆分后分批上传。")
        report = await imports.import_registrations(
            session, filename=(file.filename or "")[:200], data=data, actor=user, settings=config
        )
    except GongzhiError as exc:
        await session.rollback()
        return await _owner_page(
            request,
            session,
            user,
            message_error=exc.detail_zh or exc.title_zh,
            status_code=exc.status,
        )
    return await _owner_page(request, session, user, report=report)


EVENT_ZH = {
    "registered": "登记",
    "confirmed": "确认",
    "rejected": "退回",
    "moved": "变更位置",
    "retired": "注销",
    "replaced": "更换",
    "entered": "列入检定管理",
}


@router.post("/owner/instruments/{registration_id}/change")
async def owner_change(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    registration_id: uuid.UUID,
    kind: Annotated[str, Form(max_length=10)],
    location: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The owner records a move or a retirement (a replacement, which registers the new
    instrument, goes through the API); the bureau sees it as an event."""
    if user is None:
        return _login(request)
    if user.role != Role.owner:
        return _forbidden(request, user)
    if kind not in ("moved", "retired"):
        return RedirectResponse("/owner/instruments", status_code=303)
    change = RegistrationChange(kind=kind, location=location or None, reason=reason.strip())
    try:
        await review.change_registration(session, registration_id, change, actor=user)
    except GongzhiError as exc:
        if exc.status == 404:
            raise
        await session.rollback()
        return await _owner_page(
            request, session, user, message_error=exc.detail_zh, status_code=exc.status
        )
    return RedirectResponse(
        f"/owner/instruments?changed={kind}#r-{registration_id}", status_code=303
    )


@router.get("/backoffice/registrations")
async def bureau_registrations(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    status: Annotated[str, Query(max_length=16)] = "pending",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.instrument_review):
        return _forbidden(request, user)
    chosen = RegistrationStatus(status) if status in RegistrationStatus.__members__ else None
    rows, total = await review.list_registrations(
        session, actor=user, page=PageRequest(page=page, per_page=50), status=chosen
    )
    items = await review.read_models(session, rows, with_events=True)
    return render(
        request,
        "instruments/bureau.html",
        {
            "user": user,
            "items": items,
            "total": total,
            "status": chosen.value if chosen else "",
            "tones": TONES,
            "statuses": VERIFICATION_STATUS_ZH,
            "done": request.query_params.get("done", "")[:20],
            "event_zh": EVENT_ZH,
        },
    )


@router.post("/backoffice/registrations/{registration_id}")
async def bureau_review(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    registration_id: uuid.UUID,
    decision: Annotated[str, Form(max_length=10)],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.instrument_review):
        return _forbidden(request, user)
    confirm = decision == "confirm"
    if not confirm and len(reason.strip()) < 2:
        return RedirectResponse("/backoffice/registrations?done=need_reason", status_code=303)
    await review.review_registration(
        session, registration_id, actor=user, confirm=confirm, reason=reason.strip()
    )
    return RedirectResponse(
        f"/backoffice/registrations?done={'confirmed' if confirm else 'rejected'}", status_code=303
    )


# --- verification applications: the owner's and the institution's pages -----------------------

MODES = {"on_site": "现场检定", "in_lab": "送检"}
APPLICATION_TONES = {
    "submitted": "info",
    "accepted": "ok",
    "refused": "bad",
    "completed": "muted",
    "cancelled": "muted",
}


async def _owner_applications_page(
    request: Request,
    session: DbSession,
    user: User,
    config: InstrumentsSettings,
    *,
    message_error: str | None = None,
    message_ok: str | None = None,
    status_code: int = 200,
) -> Response:
    owner = await registration.acting_owner(session, user)
    rows, total = await applications.list_applications(
        session, actor=user, page=PageRequest(page=1, per_page=50)
    )
    reads = await applications.application_reads(session, rows, settings=config)
    confirmed, _ = await review.list_registrations(
        session,
        actor=user,
        page=PageRequest(page=1, per_page=200),
        status=RegistrationStatus.confirmed,
    )
    institutions = (
        await session.scalars(
            select(Organization)
            .where(col(Organization.kind) == OrganizationKind.institution)
            .order_by(col(Organization.code))
        )
    ).all()
    return render(
        request,
        "instruments/owner_applications.html",
        {
            "user": user,
            "owner": owner,
            "applications": reads,
            "total": total,
            "instruments": confirmed,
            "institutions": institutions,
            "modes": MODES,
            "tones": APPLICATION_TONES,
            "message_error": message_error,
            "message_ok": message_ok,
            "today": clock.today().isoformat(),
        },
        status_code=status_code,
    )


@router.get("/owner/applications")
async def owner_applications(
    request: Request, session: DbSession, user: OptionalUser, config: InstrumentsConfig
) -> Response:
    if user is None:
        return _login(request)
    if user.role != Role.owner:
        return _forbidden(request, user)
    sent = request.query_params.get("sent") == "1"
    return await _owner_applications_page(
        request,
        session,
        user,
        config,
        message_ok="检定申请已提交，检定机构确认后会给出预约时间。" if sent else None,
    )


@router.post("/owner/applications")
async def owner_apply(
    request: Request, session: DbSession, user: OptionalUser, config: InstrumentsConfig
) -> Response:
    if user is None:
        return _login(request)
    if user.role != Role.owner:
        return _forbidden(request, user)
    form = await request.form()
    try:
        data = ApplicationCreate.model_validate(
            {
                "institution_code": str(form.get("institution_code") or "")[:64],
                "registration_ids": [str(v)[:40] for v in form.getlist("registration_ids")][:500],
                "preferred_on": str(form.get("preferred_on") or "")[:10],
                "mode": str(form.get("mode") or "")[:10],
                "note": str(form.get("note") or "")[:500],
            }
        )
        await applications.submit_application(session, data, actor=user, settings=config)
    except ValidationError:
        return await _owner_applications_page(
            request, session, user, config, status_code=422,
            message_error="请选择检定机构、至少一台器具、期望日期和检定方式。",
        )  # fmt: skip
    except GongzhiError as exc:
        await session.rollback()
        detail = "；".join(str(e.get("message_zh")) for e in exc.errors or [])
        return await _owner_applications_page(
            request, session, user, config, status_code=exc.status,
            message_error=(exc.detail_zh or exc.title_zh) + (f"（{detail}）" if detail else ""),
        )  # fmt: skip
    return RedirectResponse("/owner/applications?sent=1", status_code=303)


@router.get("/backoffice/applications")
async def institution_queue(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    config: InstrumentsConfig,
    status: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.application_handle):
        return _forbidden(request, user)
    return await _queue_page(request, session, user, config, status)


async def _queue_page(
    request: Request,
    session: DbSession,
    user: User,
    config: InstrumentsSettings,
    status: str,
    failed: dict[str, Any] | None = None,
) -> Response:
    """The institution's queue; ``failed``: an action refused, shown at its application with
    what was typed (id, message, values), so that nothing typed is lost."""
    chosen = ApplicationStatus(status) if status in ApplicationStatus.__members__ else None
    rows, total = await applications.list_applications(
        session, actor=user, page=PageRequest(page=1, per_page=100), status=chosen
    )
    return render(
        request,
        "instruments/institution_queue.html",
        {
            "user": user,
            "applications": await applications.application_reads(session, rows, settings=config),
            "total": total,
            "status": chosen.value if chosen else "",
            "modes": MODES,
            "tones": APPLICATION_TONES,
            "today": clock.today().isoformat(),
            "done": request.query_params.get("done", "")[:20],
            "failed": failed,
        },
        status_code=422 if failed else 200,
    )


@router.post("/backoffice/applications/{application_id}")
async def institution_handle(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    application_id: uuid.UUID,
    config: InstrumentsConfig,
    action: Annotated[str, Form(max_length=12)],
    appointment_on: Annotated[str, Form(max_length=10)] = "",
    address: Annotated[str, Form(max_length=300)] = "",
    staff: Annotated[str, Form(max_length=100)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    view: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.application_handle):
        return _forbidden(request, user)
    typed = {"appointment_on": appointment_on, "address": address, "staff": staff, "reason": reason}

    async def refused(message: str) -> Response:
        await session.rollback()
        failed = {"id": application_id, "action": action, "message": message, "values": typed}
        return await _queue_page(request, session, user, config, view, failed)

    try:
        if action in ("accept", "reschedule"):
            appointment = AppointmentRequest.model_validate(
                {"appointment_on": appointment_on, "address": address, "staff": staff}
            )
            await applications.accept_application(
                session, application_id, appointment, actor=user, reschedule=action == "reschedule"
            )
        elif action == "refuse":
            if len(reason.strip()) < 2:
                return await refused("请写明拒绝原因（至少 2 个字）。")
            await applications.refuse_application(session, application_id, reason, actor=user)
        elif action == "complete":
            await applications.complete_application(session, application_id, actor=user)
        else:
            return RedirectResponse("/backoffice/applications", status_code=303)
    except ValidationError:
        return await refused("请选择预约日期。")
    except GongzhiError as exc:
        if exc.status == 404:
            raise
        return await refused(exc.detail_zh)
    back = f"&status={view}" if view in ApplicationStatus.__members__ else ""
    return RedirectResponse(
        f"/backoffice/applications?done={action}{back}#a-{application_id}", status_code=303
    )


# The plan and statistics pages live in report_pages.py (they import this module's helpers, so it
# is imported last) and answer through this router, as before.
from api.instruments import report_pages  # noqa: E402

router.include_router(report_pages.router)
