"""The regional statistics as a spreadsheet: the same tables as the page, as CSV (sections one
under another) or XLSX (one sheet each), every cell through portal/exports.py's ``safe_row``."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook

from api.instruments.schemas import InstrumentStatistics
from api.instruments.statistics import GROUPS
from portal.exports import safe_row

Table = tuple[str, list[list[object]]]


def _percent(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f}%"


def tables(stats: InstrumentStatistics) -> list[Table]:
    overview: list[list[object]] = [
        ["项目", "数值"],
        ["行政区划", f"{stats.region_name}（{stats.region_code}）及下辖"],
        ["统计日期", stats.as_of.isoformat()],
        ["登记器具（台）", stats.registered],
        ["在用器具（台）", stats.in_use],
        ["应检器具（台）", stats.due],
        ["检定率", _percent(stats.verification_rate)],
        ["超期未检率", _percent(stats.overdue_rate)],
        ["超期未检器具（台）", stats.overdue],
        ["其中登记待确认（台）", stats.overdue_unconfirmed],
        ["已退回的登记（台，不计入）", stats.rejected],
    ]
    overview += [[f"{s.name}（台）", s.count] for s in stats.by_status]
    overview += [[f"其中 {s.name}（台）", s.count] for s in stats.by_status_detail]
    categories: list[list[object]] = [
        ["器具类别代码", "器具类别", "合计", *(name for _, name, _ in GROUPS)]
    ]
    categories += [
        [c.category_code, c.category_name, c.total, *(c.counts.get(g, 0) for g, _, _ in GROUPS)]
        for c in stats.categories
    ]
    institutions: list[list[object]] = [
        [
            "检定机构代码",
            "检定机构",
            "申请数",
            "已办结",
            "平均用时（天）",
            "最长用时（天）",
            f"{stats.result_limit_days} 天内办结",
            "按时办结率",
            "办理中",
            "办理中已超期",
        ]
    ]
    institutions += [
        [
            i.institution_code,
            i.institution_name,
            i.applications,
            i.completed,
            "" if i.average_days is None else i.average_days,
            "" if i.longest_days is None else i.longest_days,
            i.within_limit,
            _percent(i.within_limit_rate),
            i.open,
            i.open_past_limit,
        ]
        for i in stats.institutions
    ]
    months: list[list[object]] = [
        ["月份", "新登记", "注销", "检定申请", "申请办结", "检定次数", "其中不合格"]
    ]
    months += [
        [m.month, m.registered, m.retired, m.applications, m.completed, m.verified, m.failed]
        for m in stats.months
    ]
    return [
        ("概况", overview),
        ("按器具类别", categories),
        ("按检定机构", institutions),
        ("按月趋势", months),
    ]


def to_csv(stats: InstrumentStatistics) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for n, (title, rows) in enumerate(tables(stats)):
        if n:
            writer.writerow([])
        writer.writerow(safe_row([title]))
        writer.writerows(safe_row(row) for row in rows)
    return "\ufeff" + buffer.getvalue()


def to_xlsx(stats: InstrumentStatistics) -> bytes:
    book = Workbook(write_only=True)
    for title, rows in tables(stats):
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(safe_row(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def filename(stats: InstrumentStatistics, extension: str) -> str:
    return f"instrument-statistics-{stats.region_code}-{stats.as_of.isoformat()}.{extension}"
