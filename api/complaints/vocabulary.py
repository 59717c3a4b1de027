"""The words the portal uses for a case's states, findings, events and grounds of rejection."""

from __future__ import annotations

from api.complaints.models import Case, CaseKind, CaseStatus, Finding

STATUS_NAMES = {
    CaseStatus.received: "待受理",
    CaseStatus.accepted: "已受理",
    CaseStatus.mediating: "调解中",
    CaseStatus.concluded: "已办结",
    CaseStatus.rejected: "不予受理",
    CaseStatus.closed: "已关闭",
    CaseStatus.merged: "已合并",
}
REPORT_STATUS_NAMES = {**STATUS_NAMES, CaseStatus.accepted: "核查中"}

FINDING_NAMES = {
    Finding.substantiated: "属实",
    Finding.partly_substantiated: "部分属实",
    Finding.not_substantiated: "不属实",
}

# Grounds for not accepting (SAMR Order 121 Art. 16; Order 20 Art. 15 before 2026-04-15).
REJECT_REASONS = {
    "outside_remit": "不属于市场监督管理部门职责，或者本行政机关不具有处理权限",
    "already_handled": "法院、仲裁机构、其他行政机关或消费者协会等已经受理或者处理",
    "not_consumer": "不是为生活消费需要购买、使用商品或者接受服务，或者不能证明与被投诉人之间存在消费者权益争议",
    "time_barred": "除法律另有规定外，投诉人知道或者应当知道自己的权益受到被投诉人侵害之日起超过三年",
    "materials_missing": "未提供必要的身份、事实材料",
    "false_identity": "提供虚假材料、冒用他人身份或者拒不配合身份核验",
    "no_lead": "举报内容不具体，无法核查",
    "other_law": "法律、法规、规章规定不予受理的其他情形",
}

EVENT_TITLES = {
    "submitted": "已提交",
    "accepted": "已受理",
    "rejected": "不予受理",
    "mediating": "开始调解",
    "concluded": "已办结",
    "extended": "核查期限延长",
    "paused": "送检，期限暂停计算",
    "resumed": "期限恢复计算",
    "closed": "已关闭",
    "reopened": "重新办理",
    "merged": "已合并至其他案件",
    "merged_result": "合并办理的案件已办结",
    "answered_repeat": "同一事项已办结，不再重复处理",
    "transferred": "已移送有管辖权的部门",
    "dispatched": "已分送下级部门办理",
    "designated": "上级部门已指定处理机关",
    "reply": "答复",
}

# What staff also see: the internal events of a case.
STAFF_EVENT_TITLES = {
    **EVENT_TITLES,
    "note": "内部备注",
    "assign": "指派承办人",
    "overdue": "已超期",
    "deadline_recomputed": "期限按新的节假日安排重算",
    "feedback": "投诉举报人评价",
    "disputed": "管辖争议，协商中",
    "escalated": "管辖争议，已报请共同上级指定",
}

# The staff actions, in the order the case page offers them, with what each button says.
ACTION_LABELS = {
    "accept": "受理",
    "reject": "不予受理",
    "mediate": "开始调解",
    "extend": "延长核查期限",
    "pause": "送检，暂停计算期限",
    "resume": "检定结果已出，恢复计算期限",
    "conclude": "办结",
    "note": "备注或答复",
    "merge": "合并重复件",
    "repeat": "同一事项已办结，答复并关闭",
    "transfer": "移送有管辖权的部门",
    "dispatch": "分送下级部门（或指定处理机关）",
    "dispute": "管辖争议",
    "escalate": "协商不成，报请共同上级指定",
    "close": "关闭",
    "reopen": "重新办理",
}


def status_name(case: Case) -> str:
    names = REPORT_STATUS_NAMES if case.kind is CaseKind.report else STATUS_NAMES
    return names[case.status]
