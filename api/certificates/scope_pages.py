"""Back-office pages for 授权证书 (the bureau records and revokes an institution's authorisation
scope; the institution reads its own) and for held certificates (the bureau of the instrument's
region attaches each to a candidate or makes it a new instrument; the institution sees its own).
Included by api/certificates/pages.py."""

from __future__ import annotations

import re
import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import col

from api.certificates import review_queue, scope
from api.certificates.catalogue import catalogue
from api.certificates.models import ReviewStatus
from api.certificates.schemas import AuthorisationCreate, ReviewResolve
from api.certificates.settings import CertificatesConfig
from portal import clock
from portal.accounts.auth import OptionalUser
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.accounts.permissions import Action, role_allows
from portal.db import DbSession
from portal.errors import GongzhiError
from portal.pagination import PageRequest
from portal.web import render

router = APIRouter(include_in_schema=False)

AUTH_STATUS_ZH = {
    "valid": "有效",
    "pending": "未到生效日",
    "expired": "已过期",
    "revoked": "已撤销",
}
AUTH_TONES = {"valid": "ok", "pending": "info", "expired": "bad", "revoked": "muted"}


def _login(request: Request) -> Response:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _forbidden(request: Request, user: User) -> Response:
    return render(request, "error.html", {"status": 403, "user": user}, status_code=403)


def _may_read(user: User, action: Action) -> bool:
    return user.role == Role.institution or role_allows(user.role, action)


async def _authorisations_page(
    request: Request,
    session: DbSession,
    user: User,
    *,
    values: dict[str, object] | None = None,
    errors: list[str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> Response:
    rows, total = await scope.list_authorisations(
        session, actor=user, page=PageRequest(page=1, per_page=100)
    )
    manager = role_allows(user.role, Action.institution_scope_manage)
    institutions: list[Organization] = []
    if manager:
        institutions = list(
            (
                await session.scalars(
                    select(Organization)
                    .where(col(Organization.kind) == OrganizationKind.institution)
                    .order_by(col(Organization.name))
                    .limit(500)
                )
            ).all()
        )
    entries = [e for e in catalogue().entries if e.verification_form != "none"]
    return render(
        request,
        "certificates/authorisations.html",
        {
            "user": user,
            "items": await scope.read_models(session, rows),
            "total": total,
            "manager": manager,
            "institutions": institutions,
            "entries": entries,
            "values": values or {"issuer_region_code": user.region_code or ""},
            "errors": errors or [],
            "done": done,
            "status_zh": AUTH_STATUS_ZH,
            "tones": AUTH_TONES,
            "today": clock.today().isoformat(),
        },
        status_code=status_code,
    )


@router.get("/backoffice/authorisations")
async def authorisations(request: Request, session: DbSession, user: OptionalUser) -> Response:
    if user is None:
        return _login(request)
    if not _may_read(user, Action.institution_scope_manage):
        return _forbidden(request, user)
    done = request.query_params.get("done", "")[:20]
    return await _authorisations_page(request, session, user, done=done)


@router.post("/backoffice/authorisations")
async def record_authorisation(
    request: Request, session: DbSession, user: OptionalUser
) -> Response:
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.institution_scope_manage):
        return _forbidden(request, user)
    form = await request.form()
    values: dict[str, object] = {
        name: str(form.get(name) or "").strip()[:200]
        for name in (
            "institution",
            "certificate_number",
            "issuer_name",
            "issuer_region_code",
            "regions",
            "valid_from",
            "valid_until",
        )
    }
    categories = [str(c)[:32] for c in form.getlist("categories")][:300]
    values["categories"] = categories
    regions = [r for r in re.split(r"[\s,，、;；]+", str(values["regions"])) if r][:200]
    try:
        data = AuthorisationCreate.model_validate(
            {**values, "categories": categories, "regions": regions}
        )
        await scope.record_authorisation(session, data, actor=user)
    except ValidationError as exc:
        names = {
            "institution": "检定机构",
            "certificate_number": "授权证书编号",
            "issuer_name": "发证机关",
            "issuer_region_code": "发证机关行政区划代码",
            "categories": "授权项目",
            "regions": "授权区域",
            "valid_from": "有效期起",
            "valid_until": "有效期至",
        }
        fields = sorted({names.get(str(e["loc"][0]), str(e["loc"][0])) for e in exc.errors()})
        return await _authorisations_page(
            request,
            session,
            user,
            values=values,
            errors=[f"请检查：{'、'.join(fields)}。"],
            status_code=422,
        )
    except GongzhiError as exc:
        details = [str(e.get("message_zh", "")) for e in (exc.errors or [])]
        return await _authorisations_page(
            request,
            session,
            user,
            values=values,
            errors=[exc.detail_zh, *[d for d in details if d]],
            status_code=exc.status,
        )
    return RedirectResponse("/backoffice/authorisations?done=recorded", status_code=303)


@router.post("/backoffice/authorisations/{authorisation_id}/revoke")
async def revoke_authorisation(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    authorisation_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.institution_scope_manage):
        return _forbidden(request, user)
    if len(reason.strip()) < 2:
        return RedirectResponse("/backoffice/authorisations?done=need_reason", status_code=303)
    await scope.revoke_authorisation(session, authorisation_id, reason=reason, actor=user)
    return RedirectResponse("/backoffice/authorisations?done=revoked", status_code=303)


@router.get("/backoffice/certificate-reviews")
async def reviews(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    status: Annotated[str, Query(max_length=16)] = "open",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    if user is None:
        return _login(request)
    if not _may_read(user, Action.certificate_review):
        return _forbidden(request, user)
    chosen = ReviewStatus(status) if status in ReviewStatus.__members__ else None
    rows, total = await review_queue.list_reviews(
        session, actor=user, page=PageRequest(page=page, per_page=50), status=chosen
    )
    return render(
        request,
        "certificates/reviews.html",
        {
            "user": user,
            "items": await review_queue.read_models(session, rows, actor=user),
            "total": total,
            "status": chosen.value if chosen else "",
            "resolver": role_allows(user.role, Action.certificate_review),
            "done": request.query_params.get("done", "")[:40],
        },
    )


@router.post("/backoffice/certificate-reviews/{review_id}")
async def resolve(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    review_id: uuid.UUID,
    config: CertificatesConfig,
    choice: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.certificate_review):
        return _forbidden(request, user)
    if choice == "new":
        data = ReviewResolve(action="new_instrument", note=note)
    else:
        try:
            candidate = uuid.UUID(choice)
        except ValueError:
            return RedirectResponse("/backoffice/certificate-reviews?done=choose", status_code=303)
        data = ReviewResolve(action="attach", candidate_id=candidate, note=note)
    try:
        await review_queue.resolve_review(session, review_id, data, actor=user, settings=config)
    except GongzhiError as exc:
        await session.rollback()  # nothing of a refused decision is kept (the claim, say)
        return RedirectResponse(
            f"/backoffice/certificate-reviews?done={quote(exc.code)}", status_code=303
        )
    return RedirectResponse("/backoffice/certificate-reviews?done=resolved", status_code=303)
