"""Which bureau handles a case: transfer (移送) to the competent bureau, 分送 by a higher bureau to
a lower one within its jurisdiction, and disputes between bureaus settled by the common higher
bureau (投诉举报处理暂行办法 第十二条, 第二十五条, 第三十条, 第三十七条).

Every move restarts the case's first period where it arrives (第十四条: seven working days from
receipt by the bureau with jurisdiction), leaves its assignee, tells the submitter where it went,
and is in the audit trail of both regions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.complaints.models import Case
from api.complaints.schemas import CaseDispatch, CaseDispute, CaseEscalate, CaseTransfer
from api.complaints.steps import Step, publish, require, restart_first_period
from portal import workdays
from portal.accounts.models import Role, User
from portal.audit.service import record
from portal.regions.models import Region
from portal.regions.service import covers

# The common higher bureau of two provinces: the State Administration itself.
NATIONAL = "000000"
NATIONAL_NAME = "国家市场监督管理总局"


def bureau_name(region: Region | None, code: str) -> str:
    if code == NATIONAL:
        return NATIONAL_NAME
    return f"{region.full_name if region else code}市场监督管理部门"


async def _target(session: AsyncSession, code: str | None, body: str | None) -> Region:
    require(bool(code), "region_code is required", "请填写行政区划代码")
    require(bool(body), "body (why) is required", "请填写理由")
    region = await session.get(Region, code)
    require(region is not None, "unknown region_code", "行政区划代码不存在")
    assert region is not None
    return region


def dispatch_open(case: Case) -> bool:
    """分送 is for a case held by a higher bureau (a province or a city: 第三十七条), or one whose
    bureaus dispute jurisdiction (the common higher bureau designates: 第三十条)."""
    return case.dispute_region is not None or case.region_code.endswith("00")


def _above(actor: User, code: str) -> bool:
    """Whether the actor's bureau is higher than ``code``'s and covers it."""
    if actor.role is Role.admin:
        return True
    mine = actor.region_code
    return mine is not None and mine != code and covers(mine, code)


async def common_superior(session: AsyncSession, first: str, second: str) -> str:
    """The lowest bureau above both (第三十条 共同的上一级); NATIONAL across provinces."""

    async def ancestors(code: str) -> list[str]:
        chain: list[str] = []
        region = await session.get(Region, code)
        while region is not None and region.parent_code is not None:
            chain.append(region.parent_code)
            region = await session.get(Region, region.parent_code)
        return chain

    above_second = set(await ancestors(second))
    for code in await ancestors(first):
        if code in above_second and code not in (first, second):
            return code
    return NATIONAL


async def _move(session: AsyncSession, step: Step, target: Region, audit_action: str) -> str:
    """The case goes to ``target``: its period starts again, the sender's region keeps the audit
    entry (the action's own entry is written in the new region by the workflow)."""
    case = step.case
    origin = case.region_code
    case.region_code = target.code
    case.assignee_id = None
    case.dispute_region = case.dispute_due = case.dispute_escalated_to = None
    restart_first_period(case, step.today, step.config)
    step.event.data = {"from": origin, "to": target.code}
    await record(
        session,
        actor=step.actor,
        action=audit_action,
        entity_type="case",
        entity_id=case.id,
        region_code=origin,
        before={"region_code": origin},
        after={"region_code": target.code},
    )
    return origin


async def transfer(session: AsyncSession, step: Step, action: CaseTransfer) -> None:
    """暂行办法 第十二条 / 第二十五条: a case goes to the bureau of the place it belongs to. An
    open dispute over jurisdiction ends with it (the bureaus agreed: 第三十条 协商解决)."""
    target = await _target(session, action.region_code, action.body)
    require(target.code != step.case.region_code, "the case is there already", "案件已在该地区")
    await _move(session, step, target, "case.transfer.out")
    publish(step, "transferred", f"已移送{bureau_name(target, target.code)}办理。{action.body}")


async def dispatch(session: AsyncSession, step: Step, action: CaseDispatch) -> None:
    """分送 (第三十七条): a higher bureau sends the case to a lower one within its jurisdiction.
    While two bureaus dispute jurisdiction, their common higher bureau designates one of them
    (指定处理机关, 第三十条) the same way."""
    case, actor = step.case, step.actor
    target = await _target(session, action.region_code, action.body)
    if case.dispute_region is not None:
        parties = (case.region_code, case.dispute_region)
        require(
            target.code in parties,
            "designate one of the two bureaus in dispute",
            "请指定争议双方中的一个部门办理",
        )
        require(
            all(_above(actor, code) for code in parties),
            "only the common higher bureau designates",
            "只有争议双方共同的上一级部门可以指定处理机关",
        )
        designated = True
    else:
        require(
            target.code != case.region_code and covers(case.region_code, target.code),
            "分送 goes to a lower bureau within the case's region",
            "只能分送给本辖区内的下级部门",
        )
        designated = False
    origin = await _move(session, step, target, "case.dispatch.out")
    case.dispatched_from = origin
    name = bureau_name(target, target.code)
    if designated:
        publish(step, "designated", f"经上级部门指定，由{name}办理。{action.body}")
    else:
        publish(step, "dispatched", f"已分送{name}办理。{action.body}")


async def dispute(session: AsyncSession, step: Step, action: CaseDispute) -> None:
    """第三十条: the bureau holding the case and another disagree over which has jurisdiction;
    they settle it within seven working days. Internal: the submitter sees the outcome."""
    case = step.case
    other = await _target(session, action.region_code, action.body)
    require(other.code != case.region_code, "the other bureau, not this one", "请填写对方部门")
    case.dispute_region = other.code
    case.dispute_due = workdays.add_working_days(
        step.today, step.config.jurisdiction_dispute_working_days
    )
    step.event.type, step.event.body = "disputed", action.body
    step.event.data = {"with": other.code, "settle_by": case.dispute_due.isoformat()}
    await record(
        session,
        actor=step.actor,
        action="case.dispute.raised",
        entity_type="case",
        entity_id=case.id,
        region_code=other.code,
        after={"region_code": case.region_code, "dispute_due": case.dispute_due.isoformat()},
    )


async def escalate(session: AsyncSession, step: Step, action: CaseEscalate) -> None:
    """第三十条: 协商不成的，报请共同的上一级市场监督管理部门指定处理机关."""
    case = step.case
    assert case.dispute_region is not None  # checked by the state machine
    require(bool(action.body), "body (why) is required", "请填写协商未果的情况")
    superior = await common_superior(session, case.region_code, case.dispute_region)
    case.dispute_escalated_to = superior
    region = await session.get(Region, superior)
    step.event.type = "escalated"
    step.event.body = f"报请{bureau_name(region, superior)}指定处理机关。{action.body}"
    step.event.data = {"to": superior, "parties": [case.region_code, case.dispute_region]}
    await record(
        session,
        actor=step.actor,
        action="case.dispute.escalated",
        entity_type="case",
        entity_id=case.id,
        region_code=superior,
        after={"parties": [case.region_code, case.dispute_region]},
    )
