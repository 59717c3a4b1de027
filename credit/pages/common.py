"""What the credit pages share: grade colours and meanings, event labels, the chart's numbers,
and how a refused form is explained."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from credit.scoring import GRADES
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


def ctx(**values: Any) -> dict[str, Any]:
    return {
        "grade_class": GRADE_CLASS,
        "grade_meaning": GRADE_MEANING,
        "grades": GRADES,
        "event_labels": EVENT_LABELS,
        "review_labels": REVIEW_LABELS,
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
