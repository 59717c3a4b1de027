"""Reading the State Council's holiday notice (国务院办公厅关于YYYY年部分节假日安排的通知)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from chinese_calendar import constants

from portal import workdays
from portal.workdays.errors import InvalidNotice
from portal.workdays.notice import parse_notice
from portal.workdays.service import _LIBRARY_NAMES

NOTICES = Path(__file__).parent / "notices"
NOTICE_2026 = (NOTICES / "2026.txt").read_text(encoding="utf-8")


@pytest.fixture
def imported_only() -> Iterator[None]:
    """The calendar as this process had it before the test."""
    yield
    workdays.install([])
    workdays.configure(unknown_year="weekends")


def _loaded(notice_text: str) -> workdays.LoadedYear:
    notice = parse_notice(notice_text)
    return workdays.LoadedYear(
        year=notice.year,
        title=notice.title,
        holidays=notice.holidays,
        make_up_days=notice.make_up_days,
    )


def test_the_2026_notice_reproduces_chinese_calendars_2026_days_exactly(
    imported_only: None,
) -> None:
    notice = parse_notice(NOTICE_2026)
    assert notice.year == 2026
    assert notice.title == "国务院办公厅关于2026年部分节假日安排的通知"
    assert notice.signed_on == date(2025, 11, 4)
    assert [f.name for f in notice.festivals] == [
        "元旦",
        "春节",
        "清明节",
        "劳动节",
        "端午节",
        "中秋节",
        "国庆节",
    ]
    library_holidays = {d: n for d, n in constants.holidays.items() if d.year == 2026}
    library_workdays = {d: n for d, n in constants.workdays.items() if d.year == 2026}
    assert notice.holidays == set(library_holidays)
    assert notice.make_up_days == set(library_workdays)
    # Each day under the same festival as the library names it.
    for festival in notice.festivals:
        for day in festival.holidays:
            assert _LIBRARY_NAMES[library_holidays[day]] == festival.name
        for day in festival.make_up_days:
            assert _LIBRARY_NAMES[library_workdays[day]] == festival.name

    # Imported, the notice answers every day of 2026 as the library does.
    workdays.install([_loaded(NOTICE_2026)])
    assert workdays.source_of(2026) == "notice"
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert workdays.is_working_day(day) is chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
    # 1–7 Oct off; 8, 9, 10 (Saturday, make-up), 12, 13, 14, 15.
    assert workdays.add_working_days(date(2026, 9, 30), 7) == date(2026, 10, 15)


def test_a_reprint_with_half_width_punctuation_reads_the_same() -> None:
    # News sites reprint the notice with ":(),"; staff paste whatever they have.
    reprint = unicodedata.normalize("NFKC", NOTICE_2026)
    assert "：" not in reprint
    assert "（" not in reprint
    assert parse_notice(reprint) == parse_notice(NOTICE_2026)


def test_the_2019_notice_reaches_into_2018_as_the_real_one_did() -> None:
    # The 2019 notice's New Year line named 29 December 2018 a make-up working day.
    line = (
        "国务院办公厅关于2019年部分节假日安排的通知\n"
        "一、元旦：2018年12月30日至2019年1月1日放假调休，共3天。2018年12月29日（星期六）上班。\n"
    )
    notice = parse_notice(line)
    assert notice.holidays == {date(2018, 12, 30), date(2018, 12, 31), date(2019, 1, 1)}
    assert notice.make_up_days == {date(2018, 12, 29)}
    for day in notice.make_up_days:
        assert chinese_calendar.is_workday(day)
    for day in notice.holidays:
        assert chinese_calendar.is_holiday(day)


def test_a_single_day_without_make_up_and_the_document_number() -> None:
    text = (
        "国务院办公厅关于2025年部分节假日安排的通知\n国办发明电〔2024〕99号\n"
        "一、元旦：1月1日（周三）放假1天，不调休。\n"
    )
    notice = parse_notice(text)
    assert notice.holidays == {date(2025, 1, 1)}
    assert notice.make_up_days == frozenset()
    assert notice.document_number == "国办发明电〔2024〕99号"


def test_the_year_comes_from_the_title_or_must_be_given() -> None:
    body = "一、元旦：1月1日（周五）至3日（周日）放假，共3天。"
    with pytest.raises(InvalidNotice) as missing:
        parse_notice(body)
    assert "年份" in missing.value.detail_zh
    assert parse_notice(body, year=2027).holidays == {
        date(2027, 1, 1),
        date(2027, 1, 2),
        date(2027, 1, 3),
    }
    with pytest.raises(InvalidNotice) as mismatch:
        parse_notice(NOTICE_2026, year=2027)
    assert "2026" in mismatch.value.detail_zh


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        # 1 January 2026 was a Thursday, not a Wednesday: a mistyped date shows here.
        ("一、元旦：1月1日（周三）至3日（周六）放假调休，共3天。", "标注为周三，实为周四"),
        ("一、元旦：1月1日（周四）至3日（周六）放假调休，共4天。", "共4天"),
        ("一、元旦：1月1日（周四）至3日（周六）放假。1月5日（周一）上班。", "调休上班日应为"),
        ("一、元旦：1月3日至1日放假。", "颠倒"),
        ("一、元旦：2月30日放假。", "不是有效日期"),
        ("一、元旦：1月1日至3日。", "无法判断"),
        ("一、元旦：不放假。", "“放假”前没有日期"),
        ("一、元旦：另行通知。", "未找到放假日期"),
        ("一、元旦：3月1日（周日）放假。二、春节：3月1日（周日）放假。", "出现两次"),
        ("一、元旦：2027年3月1日放假。", "不在2026年度"),
        ("关于放假的一些说明", "未找到节日安排"),
    ],
)
def test_a_notice_that_contradicts_itself_is_refused(line: str, complaint: str) -> None:
    text = "国务院办公厅关于2026年部分节假日安排的通知\n" + line.replace("。二、", "。\n二、")
    with pytest.raises(InvalidNotice) as refused:
        parse_notice(text)
    assert refused.value.code == "invalid_holiday_notice"
    assert complaint in refused.value.detail_zh, refused.value.detail_zh
    assert refused.value.detail  # English too


def test_a_text_longer_than_a_notice_or_with_control_characters_is_refused() -> None:
    with pytest.raises(InvalidNotice):
        parse_notice(NOTICE_2026 * 20)
    with pytest.raises(InvalidNotice) as control:
        parse_notice(NOTICE_2026.replace("放假", "放\x00假", 1))
    assert "控制字符" in control.value.detail_zh
