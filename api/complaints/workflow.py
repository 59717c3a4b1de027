"""Staff actions on a case: the state machine, one function per action, the audit entry and the
submitter's notification of every public change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.complaints import jurisdiction, repeats
from api.complaints.deadlines import is_overdue
from api.complaints.errors import CaseChangedMeanwhile, IllegalTransition
from api.complaints.models import OPEN_STATUSES, Case, CaseEvent, CaseKind, CaseStatus
from api.complaints.notifications import notify_submitter
from api.complaints.schemas import (
    CaseAccept,
    CaseAssign,
    CaseClose,
    CaseConclude,
    CaseDispatch,
    CaseDispute,
    CaseEscalate,
    CaseExtend,
    CaseMediate,
    CaseMerge,
    CaseNote,
    CasePause,
    CaseReject,
    CaseReopen,
    CaseRepeat,
    CaseResume,
    CaseTransfer,
    StaffAction,
    StaffCaseRead,
)
from api.complaints.settings import ComplaintsSettings
from api.complaints.staff import load_for_staff, staff_case
from api.complaints.steps import Step, publish, require, restart_first_period
from api.complaints.vocabulary import ACTION_LABELS, FINDING_NAMES, REJECT_REASONS, status_name
from portal import clock, workdays
from portal.accounts.models import Role, User
from portal.accounts.permissions import Action, authorize
from portal.audit.service import record
from portal.db import utcnow
from portal.errors import GongzhiError
from portal.regions.service import covers
from portal.settings import Settings

# action -> the statuses it may start from
TRANSITIONS: dict[str, set[CaseStatus]] = {
    "accept": {CaseStatus.received},
    "reject": {CaseStatus.received},
    "mediate": {CaseStatus.accepted},
    "conclude": {CaseStatus.accepted, CaseStatus.mediating},
    "extend": {CaseStatus.accepted},
    # A complaint's mediation period runs from acceptance; a report's verification from receipt.
    "pause": {CaseStatus.received, CaseStatus.accepted, CaseStatus.mediating},
    "resume": {CaseStatus.received, CaseStatus.accepted, CaseStatus.mediating},
    "close": {CaseStatus.concluded, CaseStatus.rejected},
    "reopen": {CaseStatus.concluded, CaseStatus.closed, CaseStatus.rejected, CaseStatus.merged},
    "merge": {CaseStatus.received, CaseStatus.accepted, CaseStatus.mediating},
    # The same matter as a case already handled: answered with its result (repeats.py).
    "repeat": {CaseStatus.received, CaseStatus.accepted},
    # Before acceptance: the competent bureau decides whether to accept (第十四条).
    "transfer": {CaseStatus.received},
    # 第三十七条 (分送) and 第三十条 (disputes over jurisdiction): before acceptance too.
    "dispatch": {CaseStatus.received},
    "dispute": {CaseStatus.received},
    "escalate": {CaseStatus.received},
    "assign": set(OPEN_STATUSES),
    "note": set(CaseStatus),
}


def _snapshot(case: Case) -> dict[str, Any]:
    return {
        "status": case.status.value,
        "assignee_id": case.assignee_id,
        "finding": case.finding.value if case.finding else None,
        "acceptance_due": case.acceptance_due,
        "handling_due": case.handling_due,
        "extended": case.extended,
        "paused_on": case.paused_on,
        "reject_reason": case.reject_reason,
        "merged_into_id": case.merged_into_id,
        "region_code": case.region_code,
        "dispute_region": case.dispute_region,
        "dispute_escalated_to": case.dispute_escalated_to,
    }


def _check_transition(case: Case, name: str) -> None:
    """409 illegal_transition for an action the case's status or kind does not allow."""
    if case.status not in TRANSITIONS[name]:
        raise IllegalTransition(
            f"Cannot {name} a case that is {case.status.value}.",
            detail_zh=f"案件当前状态为“{status_name(case)}”，不能执行该操作。",
        )
    if name == "mediate" and case.kind is not CaseKind.complaint:
        raise IllegalTransition("Only complaints are mediated.", detail_zh="只有投诉适用调解。")
    if (
        name in ("pause", "resume")
        and case.kind is CaseKind.complaint
        and case.status is CaseStatus.received
    ):
        raise IllegalTransition(
            "A complaint's period pauses only once accepted (mediation).",
            detail_zh="投诉受理后调解期间才可因检定暂停计算期限。",
        )
    if name == "reopen" and case.personal_data_erased_at is not None:
        raise IllegalTransition(
            "The submitter's personal data was erased after the retention period; file anew.",
            detail_zh="该案件的投诉举报人信息已按保存期限删除，无法重新办理，请另行登记。",
        )
    if name == "pause" and case.paused_on is not None:
        raise IllegalTransition(
            "The period is already paused.", detail_zh="期限已暂停计算，请先恢复。"
        )
    if name == "resume" and case.paused_on is None:
        raise IllegalTransition("The period is not paused.", detail_zh="期限未暂停，无需恢复。")
    if name == "dispatch" and not jurisdiction.dispatch_open(case):
        raise IllegalTransition(
            "Only a higher bureau's case, or one in dispute, is dispatched.",
            detail_zh="分送适用于上级部门收到的案件，或管辖争议中由共同上级指定。",
        )
    if name == "dispute" and case.dispute_region is not None:
        raise IllegalTransition(
            "A dispute over jurisdiction is already open.", detail_zh="管辖争议已在处理中。"
        )
    if name == "escalate" and (case.dispute_region is None or case.dispute_escalated_to):
        raise IllegalTransition(
            "Only an open dispute that was not escalated yet.",
            detail_zh="只有尚未报请上级的管辖争议可以报请指定。",
        )
    if name == "extend" and (case.kind is not CaseKind.report or case.extended):
        raise IllegalTransition(
            "Only a report's verification period can be extended, once.",
            detail_zh="只有举报核查期限可以延长，且只能延长一次。",
        )


# --- one function per action ----------------------------------------------------------------------


async def _accept(session: AsyncSession, step: Step, action: CaseAccept) -> None:
    case = step.case
    case.status = CaseStatus.accepted
    case.accepted_at = step.now
    if case.kind is CaseKind.complaint:
        case.handling_due = workdays.add_working_days(
            step.today, step.config.complaint_mediation_working_days
        )
        step.event.data = {"handling_due": case.handling_due.isoformat()}  # the 受理通知书 says it
    publish(step, "accepted", action.body)


async def _reject(session: AsyncSession, step: Step, action: CaseReject) -> None:
    require(
        action.reason_code in REJECT_REASONS,
        f"reason_code must be one of {', '.join(REJECT_REASONS)}",
        "请选择不予受理的法定理由",
    )
    assert action.reason_code is not None
    case = step.case
    case.status = CaseStatus.rejected
    case.reject_reason = action.reason_code
    case.closed_at = step.now
    reason = REJECT_REASONS[action.reason_code]
    publish(step, "rejected", reason + (f"。{action.body}" if action.body else ""))
    step.event.data = {"reason_code": action.reason_code}


async def _assign(session: AsyncSession, step: Step, action: CaseAssign) -> None:
    require(action.assignee_id is not None, "assignee_id is required", "请选择承办人")
    assignee = await session.get(User, action.assignee_id)
    require(
        assignee is not None
        and assignee.is_active
        and (
            assignee.role is Role.admin
            or (
                assignee.role is Role.regulator
                and assignee.region_code is not None
                and covers(assignee.region_code, step.case.region_code)
            )
        ),
        "The assignee must be an active regulator covering the case's region.",
        "承办人须为管辖该区域的监管人员",
    )
    assert assignee is not None
    step.case.assignee_id = assignee.id
    step.event.type, step.event.data = "assigned", {"assignee_id": str(assignee.id)}


async def _note(session: AsyncSession, step: Step, action: CaseNote) -> None:
    require(bool(action.body), "body is required", "请填写内容")
    step.event.type = "reply" if action.public else "note"
    step.event.public, step.event.body = action.public, action.body


async def _mediate(session: AsyncSession, step: Step, action: CaseMediate) -> None:
    step.case.status = CaseStatus.mediating
    publish(step, "mediating", action.body)


async def _conclude(session: AsyncSession, step: Step, action: CaseConclude) -> None:
    require(action.finding is not None, "finding is required", "请选择核查结论")
    require(bool(action.body), "body (the conclusion) is required", "请填写办理结果")
    assert action.finding is not None
    case = step.case
    case.status = CaseStatus.concluded
    case.finding = action.finding
    case.concluded_at = step.now
    decision = ""
    if case.kind is CaseKind.report:
        # 市场监督管理行政处罚程序规定 第十八条: verification ends in the decision to open a case
        # or not; 投诉举报处理暂行办法 第三十一条: a real-name reporter is told within five working
        # days of it. The public event is the telling: it goes out now, through the outbox.
        require(
            action.filing is not None,
            "filing (filed or not_filed) is required for a report",
            "请选择是否立案",
        )
        decision = "决定立案调查。" if action.filing == "filed" else "决定不予立案。"
    elif action.mediation_result in ("no_agreement", "withdrawn"):
        # 投诉举报处理暂行办法 第二十一条: mediation is terminated (终止调解) and both parties are
        # told within seven working days of the decision; the complainant is told now.
        decision = "终止调解。"
    publish(step, "concluded", f"{FINDING_NAMES[action.finding]}。{decision}{action.body}")
    step.event.data = {
        "finding": action.finding.value,
        "mediation_result": action.mediation_result,
    }
    if decision == "终止调解。":
        step.event.data["parties_told_by"] = workdays.add_working_days(
            step.today, step.config.mediation_termination_notice_working_days
        ).isoformat()
    if action.filing is not None and case.kind is CaseKind.report:
        step.event.data["filing"] = action.filing
        if not case.anonymous:
            step.event.data["reporter_told_by"] = workdays.add_working_days(
                step.today, step.config.report_filing_notice_working_days
            ).isoformat()


async def _extend(session: AsyncSession, step: Step, action: CaseExtend) -> None:
    require(bool(action.body), "body (the approved reason) is required", "请填写延期理由")
    case = step.case
    assert case.handling_due is not None
    case.handling_due = workdays.add_working_days(
        case.handling_due, step.config.report_extension_working_days
    )
    case.extended = True
    publish(step, "extended", action.body)


def available_actions(case: Case) -> list[str]:
    """The actions the case page offers: those the state machine allows now (assignment has
    its own control), in the order of ``ACTION_LABELS``."""
    offered = []
    for name in ACTION_LABELS:
        try:
            _check_transition(case, name)
        except IllegalTransition:
            continue
        offered.append(name)
    return offered


def _period_name(case: Case) -> str:
    return "调解期限" if case.kind is CaseKind.complaint else "核查期限"


async def _pause(session: AsyncSession, step: Step, action: CasePause) -> None:
    """检定、检验、检测、鉴定所需时间不计算在调解期限内 (投诉举报处理暂行办法 第二十条; a report's
    verification period likewise, 市场监督管理行政处罚程序规定 第十八条)."""
    require(bool(action.testing), "testing (what for) is required", "请选择送检类别")
    require(bool(action.body), "body (where and why) is required", "请填写送检机构和事由")
    step.case.paused_on = step.today
    publish(
        step,
        "paused",
        f"器具送{action.testing}，{_period_name(step.case)}自 {step.today.isoformat()} 起暂停计算"
        f"（{action.testing}所需时间不计算在期限内）。{action.body}",
    )
    step.event.data = {"testing": action.testing, "from": step.today.isoformat()}


async def _resume(session: AsyncSession, step: Step, action: CaseResume) -> None:
    case = step.case
    assert case.paused_on is not None  # checked by _check_transition
    assert case.handling_due is not None  # set on receipt (reports) or acceptance (complaints)
    paused = workdays.working_days_between(case.paused_on, step.today)
    case.handling_due = workdays.add_working_days(case.handling_due, paused)
    publish(
        step,
        "resumed",
        f"{_period_name(case)}恢复计算，暂停 {paused} 个工作日，期限顺延至 "
        f"{case.handling_due.isoformat()}。{action.body or ''}".strip(),
    )
    step.event.data = {
        "from": case.paused_on.isoformat(),
        "to": step.today.isoformat(),
        "working_days": paused,
    }
    case.paused_on = None


async def _close(session: AsyncSession, step: Step, action: CaseClose) -> None:
    step.case.status = CaseStatus.closed
    step.case.closed_at = step.now
    publish(step, "closed", action.body)


async def _reopen(session: AsyncSession, step: Step, action: CaseReopen) -> None:
    """A rejected or merged case goes back to acceptance; a concluded or closed one back to
    handling, with a fresh deadline either way."""
    require(bool(action.body), "body (why) is required", "请填写重新办理的理由")
    case, config = step.case, step.config
    if step.previous in (CaseStatus.rejected, CaseStatus.merged):
        case.status = CaseStatus.received
        case.reject_reason = None
        case.merged_into_id = None
        restart_first_period(case, step.today, config)
    else:
        case.status = CaseStatus.accepted
        case.finding = None
        case.concluded_at = None
        case.handling_due = workdays.add_working_days(
            step.today,
            config.complaint_mediation_working_days
            if case.kind is CaseKind.complaint
            else config.report_verification_working_days,
        )
    case.closed_at = None
    case.paused_on = None  # a new period starts counting
    publish(step, "reopened", action.body)


async def _perform(session: AsyncSession, step: Step, action: StaffAction) -> None:
    match action:
        case CaseAccept():
            await _accept(session, step, action)
        case CaseReject():
            await _reject(session, step, action)
        case CaseAssign():
            await _assign(session, step, action)
        case CaseNote():
            await _note(session, step, action)
        case CaseMediate():
            await _mediate(session, step, action)
        case CaseConclude():
            await _conclude(session, step, action)
        case CaseExtend():
            await _extend(session, step, action)
        case CasePause():
            await _pause(session, step, action)
        case CaseResume():
            await _resume(session, step, action)
        case CaseClose():
            await _close(session, step, action)
        case CaseReopen():
            await _reopen(session, step, action)
        case CaseMerge():
            await repeats.merge(session, step, action)
        case CaseRepeat():
            await repeats.answer_repeat(session, step, action)
        case CaseTransfer():
            await jurisdiction.transfer(session, step, action)
        case CaseDispatch():
            await jurisdiction.dispatch(session, step, action)
        case CaseDispute():
            await jurisdiction.dispute(session, step, action)
        case CaseEscalate():
            await jurisdiction.escalate(session, step, action)


def covers_region(actor: User, region_code: str) -> bool:
    """Whether the actor still handles cases of this region (after a transfer: maybe not)."""
    try:
        authorize(actor, Action.case_handle, region_code=region_code)
    except GongzhiError:
        return False
    return True


async def _claim(session: AsyncSession, case: Case, now: datetime) -> None:
    """Take the case for this action, or refuse if another action changed it since it was read.

    Two staff pressing 恢复计算期限 together both read the case paused; both would move the due
    date and tell the complainant twice. The case's ``updated_at`` is its version: this update
    succeeds only on the version this action read, and holds the row (PostgreSQL) or the
    database (SQLite) until the action commits, so the other action finds a newer version and
    is refused with 409 ``case_changed_meanwhile``."""
    claimed = await session.execute(
        update(Case)
        .where(col(Case.id) == case.id, col(Case.updated_at) == case.updated_at)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 1) != 1:
        raise CaseChangedMeanwhile()
    case.updated_at = now


async def apply_action(
    session: AsyncSession,
    case_id: uuid.UUID,
    action: StaffAction,
    *,
    settings: Settings,
    actor: User,
    now: datetime | None = None,
) -> StaffCaseRead:
    """Apply one staff action through the state machine; audit it; notify the submitter of
    public changes. Illegal transitions are 409 ``illegal_transition``."""
    now = now or utcnow()
    case = await load_for_staff(session, case_id, actor)
    await _claim(session, case, now)
    name = action.action
    _check_transition(case, name)
    before = _snapshot(case)
    step = Step(
        case=case,
        actor=actor,
        config=settings.of(ComplaintsSettings),
        now=now,
        today=clock.local_date(now),
        previous=case.status,
        event=CaseEvent(case_id=case.id, at=now, type=name, actor_id=actor.id, data={}),
    )
    await _perform(session, step, action)
    event = step.event
    if case.status not in TRANSITIONS["resume"]:
        case.paused_on = None  # a period that ended (concluded, rejected, merged) is not paused
    if case.status is not CaseStatus.received:
        # The bureau holding the case decided on it (accepted, rejected, merged...): a dispute
        # over jurisdiction (第三十条) is settled by that.
        case.dispute_region = case.dispute_due = case.dispute_escalated_to = None
    if case.status is not step.previous:
        event.from_status, event.to_status = step.previous.value, case.status.value
    case.overdue = is_overdue(case, step.today)
    case.updated_at = now
    session.add(event)
    await session.flush()
    await record(
        session,
        actor=actor,
        action=f"case.{name}",
        entity_type="case",
        entity_id=case.id,
        region_code=case.region_code,
        before=before,
        after={**_snapshot(case), "event": event.type, "public": event.public},
    )
    if event.public:
        await notify_submitter(session, case, event)
    if name == "conclude":  # the cases merged into this one are told the decision too
        await repeats.tell_merged(session, case, event)
    return await staff_case(
        session,
        case.id,
        settings=settings,
        actor=actor,
        sent_away=name in ("transfer", "dispatch") and not covers_region(actor, case.region_code),
    )
