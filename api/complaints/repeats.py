"""Repeated complaints and reports of the same matter: merged into the case that handles it, or
answered with the earlier case's result (SAMR Order 121, as summarised in
../shared/research/complaints.md: 重复举报 may be merged or not handled again; the article is to
verify against the order's text).

A merged case's submitter follows the case it was merged into: when that one is decided, each
merged case's timeline gets the decision too, so a real-name reporter whose report was merged is
told of the 立案 decision like the first one (投诉举报处理暂行办法 第三十一条) and has the
举报处理结果告知书 of their own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints.models import Case, CaseEvent, CaseKind, CaseStatus
from api.complaints.notifications import notify_submitter
from api.complaints.schemas import CaseMerge, CaseRepeat
from api.complaints.steps import Step, publish, require
from api.complaints.vocabulary import FINDING_NAMES
from portal import clock
from portal.accounts.permissions import Action, authorize

# The statuses of a case that has been handled: a repeat of it is answered with its result.
HANDLED = frozenset({CaseStatus.concluded, CaseStatus.closed})


async def _other_case(session: AsyncSession, step: Step, number: str | None) -> Case:
    require(bool(number), "duplicate_of is required", "请填写同一事项案件的受理编号")
    target: Case | None = await session.scalar(
        select(Case).where(col(Case.tracking_number) == number)
    )
    require(
        target is not None and target.id != step.case.id and target.kind is step.case.kind,
        "duplicate_of must be another case of the same kind",
        "须为同类的其他案件",
    )
    assert target is not None
    authorize(step.actor, Action.case_handle, region_code=target.region_code)
    return target


async def merge(session: AsyncSession, step: Step, action: CaseMerge) -> None:
    """The same matter as a case still being handled: this one follows it (合并处理)."""
    target = await _other_case(session, step, action.duplicate_of)
    require(
        target.status is not CaseStatus.merged,
        "duplicate_of must not be merged itself",
        "合并目标须为未被合并的案件",
    )
    case = step.case
    case.status = CaseStatus.merged
    case.merged_into_id = target.id
    case.closed_at = step.now
    publish(step, "merged", f"与 {target.tracking_number} 合并办理。{action.body or ''}".strip())
    step.event.data = {"merged_into": target.tracking_number}


async def _decision_of(session: AsyncSession, case: Case) -> CaseEvent | None:
    return await session.scalar(
        select(CaseEvent)
        .where(col(CaseEvent.case_id) == case.id, col(CaseEvent.type) == "concluded")
        .order_by(col(CaseEvent.at).desc())
        .limit(1)
    )


def result_words(case: Case, decision: CaseEvent | None) -> str:
    """The earlier case's result in words the submitter may read: the finding and, for a report,
    the 立案 decision; never its narrative (another person's case)."""
    data = decision.data if decision is not None else {}
    words = []
    finding = str(data.get("finding") or "")
    for key, name in FINDING_NAMES.items():
        if key.value == finding:
            words.append(f"核查结论为{name}")
    if case.kind is CaseKind.report and data.get("filing"):
        words.append("已立案调查" if data["filing"] == "filed" else "决定不予立案")
    if data.get("mediation_result") == "agreement":
        words.append("已达成调解协议")
    elif data.get("mediation_result") in ("no_agreement", "withdrawn"):
        words.append("已终止调解")
    return "，".join(words) or "已办结"


async def answer_repeat(session: AsyncSession, step: Step, action: CaseRepeat) -> None:
    """The same matter as a case already handled, with no new facts: it is answered with that
    case's result and not handled again (Order 121: 重复举报 不再重复处理)."""
    target = await _other_case(session, step, action.duplicate_of)
    require(
        target.status in HANDLED,
        "duplicate_of must be a case already handled (concluded or closed); merge into an open one",
        "同一事项的案件尚未办结，请改用“合并重复件”",
    )
    decision = await _decision_of(session, target)
    decided = clock.local_date(decision.at if decision is not None else target.updated_at)
    case = step.case
    case.status = CaseStatus.closed
    case.closed_at = step.now
    publish(
        step,
        "answered_repeat",
        f"您反映的事项与 {target.tracking_number} 为同一事项，该案已于 {decided.isoformat()} 办结"
        f"（{result_words(target, decision)}）。没有新的事实和理由，不再重复处理；"
        f"如有新的事实或证据，请重新提交。{action.body or ''}".strip(),
    )
    step.event.data = {"repeat_of": target.tracking_number}


async def tell_merged(session: AsyncSession, case: Case, decision: CaseEvent) -> int:
    """The decision of ``case`` on the timeline of every case merged into it, each submitter
    told; a real-name reporter's 举报处理结果告知书 comes with it (documents.py). Returns how
    many were told."""
    merged = await session.scalars(
        select(Case).where(
            col(Case.merged_into_id) == case.id, col(Case.status) == CaseStatus.merged.value
        )
    )
    told = 0
    for other in merged:
        event = CaseEvent(
            case_id=other.id,
            at=decision.at,
            type="merged_result",
            public=True,
            actor_id=decision.actor_id,
            body=f"合并办理的 {case.tracking_number} 已办结：{decision.body or ''}".strip(),
            data={**decision.data, "merged_into": case.tracking_number},
        )
        session.add(event)
        await session.flush()
        await notify_submitter(session, other, event)
        told += 1
    return told
