"""Read the State Council's annual holiday notice (国务院办公厅关于YYYY年部分节假日安排的通知).

The import format is the notice's own text, as published on www.gov.cn and reprinted by Xinhua:
staff paste or save what they receive, nothing is retyped. ``docs/calendar.md`` describes it. The
parts the importer reads:

- the year, from the title (``关于2027年部分节假日安排的通知``) or the first sentence
  (``现将2027年元旦、春节……``), unless given explicitly;
- one numbered line per festival, ``一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。
  1月4日（周日）上班。``: dates followed by ``放假`` are holidays (``A至B`` is a range), dates
  followed by ``上班`` are make-up working days (调休上班). A date without a year is in the
  notice's year; a date without a month is in the month of the date before it;
- optionally the document number (``国办发明电〔2025〕7号``) and the date signed (last line).

The notice checks itself and so does the importer: every weekday in brackets must be that date's
weekday, ``共N天`` must be the length of the range, a make-up working day must be a Saturday or a
Sunday, and no day may be both. Full-width and half-width punctuation are both accepted (copies on
news sites often have the latter).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from portal.workdays.errors import InvalidNotice

MAX_NOTICE_CHARS = 20_000

_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKDAY_NAMES = "一二三四五六日"
_ITEM = re.compile(r"^\s*[一二三四五六七八九十]+、\s*(?P<name>[^:\s]{1,16})\s*:\s*(?P<body>.+)$")
_DATE = re.compile(
    r"(?:(?P<year>\d{4})\s*年\s*)?(?:(?P<month>\d{1,2})\s*月\s*)?(?P<day>\d{1,2})\s*日"
    r"(?:\s*\((?P<note>[^()]{0,40})\))?"
)
_WEEKDAY_NOTE = re.compile(r"(?:周|星期)([一二三四五六日天])")
_TOTAL = re.compile(r"(?:共|放假)\s*(\d{1,2})\s*天")
_YEAR_IN_TITLE = re.compile(r"(?:关于|现将)\s*(\d{4})\s*年")
_DOCUMENT_NUMBER = re.compile(r"国办发(?:明电)?\s*〔\s*\d{4}\s*〕\s*\d{1,4}\s*号")
_SIGNED = re.compile(r"^\s*(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*$")


@dataclass(frozen=True)
class Festival:
    name: str  # as the notice calls it: 元旦, 春节, 中秋节、国庆节 …
    holidays: tuple[date, ...]
    make_up_days: tuple[date, ...]


@dataclass(frozen=True)
class Notice:
    year: int
    title: str
    document_number: str | None
    signed_on: date | None
    festivals: tuple[Festival, ...]

    @property
    def holidays(self) -> frozenset[date]:
        return frozenset(d for f in self.festivals for d in f.holidays)

    @property
    def make_up_days(self) -> frozenset[date]:
        return frozenset(d for f in self.festivals for d in f.make_up_days)


def _fail(english: str, chinese: str) -> InvalidNotice:
    return InvalidNotice(english, detail_zh=chinese)


def _notice_year(lines: list[str], given: int | None) -> int:
    found = None
    for line in lines:
        match = _YEAR_IN_TITLE.search(line)
        if match and ("节假日" in line or "放假" in line):
            found = int(match.group(1))
            break
    if given is not None and found is not None and given != found:
        raise _fail(
            f"The notice is for {found}, not {given}.",
            f"通知所列年份为{found}年，与指定的{given}年不符。",
        )
    year = given if given is not None else found
    if year is None:
        raise _fail(
            "The notice's year was not found: keep its title (关于YYYY年部分节假日安排的通知) or "
            "give the year.",
            "未找到通知的年份：请保留标题（关于YYYY年部分节假日安排的通知）或指定年份。",
        )
    if not 2000 <= year <= 2200:
        raise _fail(f"{year} is not a plausible year.", f"{year}年不是有效的年份。")
    return year


class _Dates:
    """Reads the dates of one festival line, carrying year and month forward as the notice
    writes them (``2月15日……至23日``)."""

    def __init__(self, year: int, festival: str) -> None:
        self.year = year
        self.month: int | None = None
        self.festival = festival

    def read(self, match: re.Match[str]) -> date:
        if match.group("year"):
            self.year = int(match.group("year"))
        if match.group("month"):
            self.month = int(match.group("month"))
        if self.month is None:
            raise _fail(
                f"{self.festival}: a date has no month ({match.group(0)}).",
                f"{self.festival}：日期缺少月份（{match.group(0)}）。",
            )
        try:
            day = date(self.year, self.month, int(match.group("day")))
        except ValueError:
            raise _fail(
                f"{self.festival}: {match.group(0)} is not a date.",
                f"{self.festival}：{match.group(0)}不是有效日期。",
            ) from None
        note = _WEEKDAY_NOTE.search(match.group("note") or "")
        if note and _WEEKDAYS[note.group(1)] != day.weekday():
            raise _fail(
                f"{self.festival}: {day} is marked as weekday {note.group(1)} but is a "
                f"{day.strftime('%A')}.",
                f"{self.festival}：{day.month}月{day.day}日标注为周{note.group(1)}，"
                f"实为周{_WEEKDAY_NAMES[day.weekday()]}。",
            )
        return day


def _festival(name: str, body: str, year: int) -> Festival:
    dates = _Dates(year, name)
    holidays: list[date] = []
    make_up: list[date] = []
    last_range: list[date] = []
    # Clauses: "1月1日(周四)至3日(周六)放假调休" / "共3天" / "1月4日(周日)上班".
    for clause in re.split(r"[。;,]", body):
        found = list(_DATE.finditer(clause))
        total = _TOTAL.search(clause)
        if "上班" in clause:
            make_up.extend(dates.read(m) for m in found)
        elif "放假" in clause or "休息" in clause:
            days = [dates.read(m) for m in found]
            between = clause[found[0].end() : found[1].start()] if len(found) == 2 else ""
            if len(found) == 2 and "至" in between:
                start, end = days
                if end < start:
                    raise _fail(
                        f"{name}: the range ends before it starts.", f"{name}：放假起止日期颠倒。"
                    )
                days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
            elif not days:
                raise _fail(f"{name}: no date before 放假.", f"{name}：“放假”前没有日期。")
            holidays.extend(days)
            last_range = days
        elif found:
            raise _fail(
                f"{name}: cannot tell whether {clause.strip()} is a holiday (放假) or a working "
                "day (上班).",
                f"{name}：无法判断“{clause.strip()}”是放假还是上班。",
            )
        if total and int(total.group(1)) != len(last_range):
            raise _fail(
                f"{name}: the notice says {total.group(1)} days but lists {len(last_range)}.",
                f"{name}：通知写明共{total.group(1)}天，但所列日期为{len(last_range)}天。",
            )
    if not holidays:
        raise _fail(f"{name}: no holiday found.", f"{name}：未找到放假日期。")
    for day in make_up:
        if day.weekday() < 5:
            raise _fail(
                f"{name}: {day} is a weekday; a make-up working day (上班) is a weekend day.",
                f"{name}：{day.month}月{day.day}日本是工作日，调休上班日应为周六或周日。",
            )
    return Festival(name=name, holidays=tuple(holidays), make_up_days=tuple(make_up))


def parse_notice(text: str, *, year: int | None = None) -> Notice:
    """The holidays and make-up working days of a notice's text; ``InvalidNotice`` if it cannot
    be read or contradicts itself."""
    if len(text) > MAX_NOTICE_CHARS:
        raise _fail(
            f"The text is longer than {MAX_NOTICE_CHARS} characters.",
            f"文本超过{MAX_NOTICE_CHARS}字，请只粘贴通知正文。",
        )
    if any(unicodedata.category(c) == "Cc" and c not in "\t\r\n" for c in text):
        # NUL and other control characters are never in a notice (and PostgreSQL refuses NUL).
        raise _fail(
            "The text contains control characters.", "文本含有控制字符，请粘贴通知的纯文本。"
        )
    # NFKC turns full-width "：（），" into ":(),", so both printings read the same.
    lines = [line.strip() for line in unicodedata.normalize("NFKC", text).splitlines()]
    lines = [line for line in lines if line]
    notice_year = _notice_year(lines, year)
    title = f"国务院办公厅关于{notice_year}年部分节假日安排的通知"
    number = next((m.group(0) for line in lines if (m := _DOCUMENT_NUMBER.search(line))), None)
    signed = None
    for line in reversed(lines):
        if match := _SIGNED.match(line):
            try:
                signed = date(*(int(g) for g in match.groups()))
            except ValueError:
                signed = None
            break
    festivals = [
        _festival(match.group("name"), match.group("body"), notice_year)
        for line in lines
        if (match := _ITEM.match(line))
    ]
    if not festivals:
        raise _fail(
            "No festival line (一、元旦：…放假…) was found.",
            "未找到节日安排（如“一、元旦：……放假……”）。",
        )
    _check_days(festivals, notice_year)
    return Notice(
        year=notice_year,
        title=title,
        document_number=number,
        signed_on=signed,
        festivals=tuple(festivals),
    )


def _check_days(festivals: list[Festival], year: int) -> None:
    # A notice may reach into the neighbouring year around 元旦, never further.
    earliest, latest = date(year - 1, 12, 1), date(year + 1, 1, 31)
    seen: dict[date, str] = {}
    for festival in festivals:
        for kind, days in (("放假", festival.holidays), ("上班", festival.make_up_days)):
            for day in days:
                if not earliest <= day <= latest:
                    raise _fail(
                        f"{festival.name}: {day} is outside the notice's year {year}.",
                        f"{festival.name}：{day.isoformat()}不在{year}年度通知的范围内。",
                    )
                if day in seen:
                    raise _fail(
                        f"{day} is named twice ({seen[day]} and {festival.name} {kind}).",
                        f"{day.month}月{day.day}日出现两次（{seen[day]}、{festival.name}{kind}）。",
                    )
                seen[day] = f"{festival.name}{kind}"
