"""Errors of the working-day calendar and of importing a State Council notice."""

from __future__ import annotations

from portal.errors import InvalidInput, NotFound, ServiceUnavailable


class CalendarYearNotLoaded(ServiceUnavailable):
    """A deadline falls in a year whose holidays nobody knows (no imported notice, beyond the
    chinese-calendar package) and ``GONGZHI_CALENDAR_UNKNOWN_YEAR=refuse``: counting weekends
    alone would silently move a statutory deadline (Spring Festival is a week of holidays)."""

    code = "calendar_year_not_loaded"
    title = "The holiday calendar of this year has not been loaded"
    title_zh = "该年度节假日安排尚未导入"

    def __init__(self, year: int) -> None:
        super().__init__(
            f"The State Council's holiday arrangement for {year} has not been imported, so a "
            "deadline in that year cannot be counted in working days. An administrator imports it "
            "under /admin/calendar or with `gongzhi calendar import FILE`.",
            detail_zh=f"{year}年节假日安排尚未导入，无法按工作日计算期限。请管理员在“节假日安排”"
            "页面或以 gongzhi calendar import 命令导入国务院办公厅的通知。",
            year=year,
        )
        self.year = year


class InvalidNotice(InvalidInput):
    """The text is not a holiday arrangement notice the importer can read, or it contradicts
    itself (a weekday in brackets that is not that date's, a total that is not the range)."""

    code = "invalid_holiday_notice"
    title = "The holiday arrangement notice could not be read"
    title_zh = "无法识别节假日安排通知"


class CalendarYearNotFound(NotFound):
    code = "calendar_year_not_found"
    title = "No holiday arrangement has been imported for this year"
    title_zh = "该年度未导入节假日安排"
