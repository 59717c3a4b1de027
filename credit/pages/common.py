"""What the credit pages share: grade colours and meanings, event labels, the chart's numbers,
what each indicator measures and what "no data" means for it, and how a refused form is
explained."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from credit.public import objection_reference
from credit.scoring import DEDUCTION_KINDS, GRADES
from portal.errors import GongzhiError

GRADE_CLASS = {g: ("ok" if i < 3 else "warn" if i < 6 else "bad") for i, g in enumerate(GRADES)}
GRADE_MEANING = {
    "AAA": "信用很好",
    "AA": "信用好",
    "A": "信用较好",
    "BBB": "信用一般",
    "BB": "信用欠佳",
    "B": "信用较差",
    "CCC": "信用很差",
    "CC": "信用极差",
    "C": "没有信用",
}
EVENT_LABELS = {
    "run.started": "开始评价",
    "notice.opened": "开始公示",
    "objection.lodged": "收到异议",
    "objection.decided": "异议处理",
    "rating.published": "发布等级",
    "rating.reviewed": "复核",
    "rating.flagged": "列入复核",
    "rating.expired": "有效期届满",
    "reply.published": "企业回应",
    "run.published": "批次发布",
    "methodology.published": "发布评价方法",
}
REVIEW_LABELS = {"keep": "维持", "downgrade": "降级", "cancel": "撤销"}

# What each kind of indicator measures, and why it can have no data, in words a citizen reads
# beside the numbers (the kinds are those of credit/scoring.py; docs/credit-methodology.md).
INDICATOR_MEANING = {
    "certificate_coverage": "平台登记的该企业计量器具中，持有有效检定证书的比例，越高越好。",
    "overdue_days": "平均每台器具超过检定有效期仍未检定的天数，越少越好。",
    "failure_share": "近 24 个月检定中不合格的比例，越低越好。",
    "complaint_rate": "按每百台器具折算的查实投诉数，越少越好。",
    "penalties": "公示期内的行政处罚按严重程度计点，点数越多得分越低；没有处罚即得满分。",
    "association_entry": "由评价协会核查后填报：已做到得满分，未做到或未填报不得分。",
    "inspection_findings": "已公开的双随机监督检查不合格结果，每次按后续处理扣分（责令改正少于立案查处），"
    "扣分有上限；没有不合格结果不扣分。",
}
INDICATOR_NO_DATA = {
    "certificate_coverage": "平台上没有登记该企业的计量器具，无法计算持证比例。",
    "overdue_days": "平台上没有登记该企业的计量器具，无法计算超期天数。",
    "failure_share": "近 24 个月平台上没有该企业器具的检定记录，无法计算不合格比例。",
    "complaint_rate": "平台上没有登记该企业的计量器具，无法按器具数折算投诉率。",
}
INPUT_LABELS = {
    "instruments": "登记器具",
    "with_valid_certificate": "持有效证书",
    "share": "比例",
    "overdue_instruments": "超期器具",
    "overdue_instrument_days": "超期天数合计",
    "days_per_instrument": "平均每台超期天数",
    "verifications_24m": "近 24 个月检定次数",
    "failures_24m": "其中不合格",
    "substantiated_complaints": "查实投诉",
    "complaints": "查实投诉",
    "per_100_instruments": "每百台器具投诉数",
    "window_days": "统计期（天）",
    "penalties": "行政处罚",
    "severity_points": "处罚点数",
    "failed_inspections": "监督检查不合格次数",
    "finding_points": "不合格计分",
    "deducted": "实扣分数",
    "entered": "协会已填报",
    "value": "已做到",
}


def ctx(**values: Any) -> dict[str, Any]:
    return {
        "grade_class": GRADE_CLASS,
        "grade_meaning": GRADE_MEANING,
        "grades": GRADES,
        "event_labels": EVENT_LABELS,
        "review_labels": REVIEW_LABELS,
        "indicator_meaning": INDICATOR_MEANING,
        "indicator_no_data": INDICATOR_NO_DATA,
        "input_labels": INPUT_LABELS,
        "reference": objection_reference,
        **values,
    }


def error_text(exc: Exception) -> str:
    if isinstance(exc, GongzhiError):
        return exc.detail_zh
    if isinstance(exc, ValidationError):
        return "填写的内容不符合要求：" + "；".join(
            f"{'.'.join(str(p) for p in e['loc'])} {e['msg']}" for e in exc.errors()
        )
    raise exc


def chart_rows(breakdown: list[dict[str, Any]]) -> dict[str, Any]:
    """Numbers for the server-rendered SVG bar chart: each indicator's points against the most
    it could earn (its weight, scaled like the score when some indicators have no data)."""
    # Deductions are not bars of the weighted 100: the table shows what they took off.
    breakdown = [i for i in breakdown if i["kind"] not in DEDUCTION_KINDS]
    included = sum(i["weight"] for i in breakdown if i["included"]) or 1
    scale = Decimal(100) / Decimal(included)
    rows = []
    width = 200
    top = max(
        (Decimal(i["weight"]) * scale for i in breakdown if i["included"]), default=Decimal(1)
    )
    for n, item in enumerate(breakdown):
        possible = Decimal(item["weight"]) * scale if item["included"] else Decimal(0)
        points = Decimal(item["points"])
        rows.append(
            {
                "y": 8 + n * 30,
                "name": item["name"],
                "included": item["included"],
                "possible": f"{possible:.1f}",
                "points": f"{points:.1f}",
                "possible_w": int(possible / top * width) if item["included"] else 0,
                "points_w": int(points / top * width) if item["included"] else 0,
            }
        )
    return {"rows": rows, "height": 16 + len(rows) * 30, "x": 160, "width": width}


def score_explanation(breakdown: list[dict[str, Any]]) -> dict[str, Any]:
    """The numbers of the sentence that explains a total: which indicators count, their weights
    added up, what one point of weight is worth once indicators without data are left out, and
    each indicator's most possible points. Deductions (their weight is the most they take off)
    are outside the weighted 100 and listed apart."""
    deductions = [i for i in breakdown if i["kind"] in DEDUCTION_KINDS]
    breakdown = [i for i in breakdown if i["kind"] not in DEDUCTION_KINDS]
    included = [i for i in breakdown if i["included"]]
    weight = sum(int(i["weight"]) for i in included)
    total_weight = sum(int(i["weight"]) for i in breakdown)
    per_weight = Decimal(100) / Decimal(weight) if weight else Decimal(0)
    example = included[0] if included else None
    return {
        "example": {
            "name": example["name"],
            "weight": example["weight"],
            "possible": f"{Decimal(example['weight']) * per_weight:.2f}",
        }
        if example
        else None,
        "included": len(included),
        "count": len(breakdown),
        "weight": weight,
        "total_weight": total_weight,
        "per_weight": f"{per_weight:.2f}",
        "deductions": {i["code"]: i["weight"] for i in deductions},
        "possible": {
            i["code"]: f"{Decimal(i['weight']) * per_weight:.2f}" if i["included"] else None
            for i in breakdown
        },
        "percent": {
            i["code"]: f"{Decimal(i['attainment']) * 100:.0f}%" if i["included"] else None
            for i in breakdown
        },
    }


def methodology_label(name: str | None, code: str, version: int) -> str:
    """A methodology as a citizen reads it: its Chinese name and version, 评价办法（第 1 版）; the
    code is technical proof and goes with the hashes."""
    if not name:
        return f"评价办法（第 {version} 版）"
    if f"第 {version} 版" in name or f"第{version}版" in name:
        return name
    return f"{name}（第 {version} 版）"
