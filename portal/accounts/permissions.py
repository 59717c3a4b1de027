"""Who may do what, where. One table of actions → roles, one region rule, one organisation rule.

Routes declare the action with ``Depends(require(Action.x))``; services that load a resource call
``authorize(actor, action, region_code=..., organization_id=...)`` once they know where it lives.
Administrators may do everything everywhere. The matrix is tested in tests/portal/test_permissions.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from enum import StrEnum

from portal.accounts.auth import CurrentUser
from portal.accounts.models import Role, User
from portal.errors import Forbidden, RegionForbidden
from portal.regions.service import covers


class Action(StrEnum):
    certificate_issue = "certificate.issue"
    certificate_revoke = "certificate.revoke"
    instrument_overdue_view = "instrument.overdue.view"
    case_handle = "case.handle"
    notice_publish = "notice.publish"
    article_publish = "article.publish"
    credit_manage = "credit.manage"
    # The enterprise registry (registered names): administrators only, never an association.
    credit_registry = "credit.registry"
    staff_view = "staff.view"
    audit_view = "audit.view"
    user_manage = "user.manage"
    calendar_manage = "calendar.manage"  # import the State Council's holiday notices
    # 强检管理 (issue 15): an owner registers its own instruments with the local bureau
    # (强制检定的工作计量器具检定管理办法: 登记备案); the region's bureau confirms or rejects.
    instrument_register = "instrument.register"
    instrument_review = "instrument.review"
    # The designated institution's queue of verification applications (检定申请).
    application_handle = "application.handle"
    # Regional statistics of registered instruments (辖区强检器具统计): the region and below.
    instrument_statistics_view = "instrument.statistics.view"
    # 授权证书: the issuing bureau (its region and below) records an institution's authorisation
    # scope; the institution reads its own through certificate_issue.
    institution_scope_manage = "institution.scope.manage"
    # Held certificates (ambiguous instrument): the bureau of the instrument's region resolves.
    certificate_review = "certificate.review"
    # 精准执法 (issue 17): the region's sites ranked by risk, recomputed on demand; the model's
    # parameters are versioned by administrators only.
    risk_view = "risk.view"
    risk_model_manage = "risk.model.manage"
    # 双随机一公开: the region's bureau commits to and draws an inspection campaign.
    inspection_manage = "inspection.manage"


ACTION_ROLES: dict[Action, frozenset[Role]] = {
    Action.certificate_issue: frozenset({Role.institution}),
    Action.certificate_revoke: frozenset({Role.institution}),
    Action.instrument_overdue_view: frozenset({Role.regulator}),
    Action.case_handle: frozenset({Role.regulator}),
    Action.notice_publish: frozenset({Role.regulator}),
    Action.article_publish: frozenset({Role.editor}),
    Action.credit_manage: frozenset({Role.association}),
    Action.credit_registry: frozenset(),
    Action.staff_view: frozenset({Role.regulator}),
    Action.audit_view: frozenset({Role.regulator}),
    Action.user_manage: frozenset(),
    Action.calendar_manage: frozenset(),
    Action.instrument_register: frozenset({Role.owner}),
    Action.instrument_review: frozenset({Role.regulator}),
    Action.application_handle: frozenset({Role.institution}),
    Action.instrument_statistics_view: frozenset({Role.regulator}),
    Action.institution_scope_manage: frozenset({Role.regulator}),
    Action.certificate_review: frozenset({Role.regulator}),
    Action.risk_view: frozenset({Role.regulator}),
    Action.risk_model_manage: frozenset(),
    Action.inspection_manage: frozenset({Role.regulator}),
}

# Actions scoped to the actor's own organisation rather than (only) a region.
ORGANIZATION_SCOPED = frozenset(
    {
        Action.certificate_issue,
        Action.certificate_revoke,
        Action.credit_manage,
        Action.instrument_register,
        Action.application_handle,
    }
)


class OrganizationForbidden(Forbidden):
    code = "organization_forbidden"
    title = "Belongs to another organisation"
    title_zh = "该资源属于其他机构"


def role_allows(role: Role, action: Action) -> bool:
    return role == Role.admin or role in ACTION_ROLES[action]


def authorize(
    actor: User,
    action: Action,
    *,
    region_code: str | None = None,
    organization_id: uuid.UUID | None = None,
) -> None:
    """Raise ``Forbidden`` unless ``actor`` may perform ``action`` on a resource located as given."""
    if not role_allows(actor.role, action):
        raise Forbidden(
            f"Role {actor.role} may not perform {action}.",
            detail_zh=f"当前角色（{actor.role}）无权执行此操作。",
        )
    if actor.role == Role.admin:
        return
    if region_code is not None and (
        actor.region_code is None or not covers(actor.region_code, region_code)
    ):
        raise RegionForbidden(
            f"Region {region_code} is outside your region {actor.region_code}.",
            detail_zh=f"行政区划 {region_code} 不在您的管辖范围（{actor.region_code}）内。",
        )
    if organization_id is not None and actor.organization_id != organization_id:
        raise OrganizationForbidden()


def require(action: Action) -> Callable[[User], Awaitable[User]]:
    """A dependency that returns the current user if their role allows ``action``."""

    async def dependency(user: CurrentUser) -> User:
        authorize(user, action)
        return user

    dependency.__name__ = f"require_{action.name}"
    return dependency
