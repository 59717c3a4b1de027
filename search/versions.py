"""What a regulation's text says about its version: who issued it, when, and whether it is still
the version in force (issue 12: 计量法实施细则 appeared twice with nothing to tell them apart).

The corpus carries only title, category, region, date and body. The body opens with dated lines
("1987年2月1日 国家计量局发布", "2022年3月29日 《国务院关于修改和废止部分行政法规的决定》第四次修订")
that name the issuing body and the version's latest date. The status is only what the corpus
itself shows: a version older than another of the same title and region is 已修改; a regulation a
repeal decision in the corpus names (废止《北京市反不正当竞争条例》) is 已废止; the newest of
several versions is 现行有效. A regulation with one version and no repeal has no known status.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class RegulationStatus(StrEnum):
    current = "现行有效"
    amended = "已修改"
    repealed = "已废止"


# How far down a same-title list a version is ranked (search engines sort on it as a last key
# among same-title hits): the version in force first, a repealed one last.
VERSION_RANK = {RegulationStatus.current: 0, None: 0, RegulationStatus.amended: 1,
                RegulationStatus.repealed: 2}  # fmt: skip

ISSUER_MAX = 64
_DATED = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日\s*(.*)$")
_HEADER_LINES = 12
_ENACTED = re.compile(r"(通过|公布|发布|批准|颁布)[。）)\s]*$")
_PUBLISHED = re.compile(r"(公布|发布|颁布)[。）)\s]*$")
_ORDINAL = "[一二三四五六七八九十百零〇\\d]+"
_REPEALED_TITLE = re.compile(r"《([^《》]{2,120})》")
_NATION = "中华人民共和国"
_IN_FORCE = re.compile(r"(起)?(施行|实施)[。）)\s]*")


@dataclass(frozen=True)
class VersionFacts:
    issuer: str | None
    version_date: date | None  # the latest date the text's opening lines give


def _header(body: str) -> list[tuple[date, str]]:
    """The dated lines that open the body, after its title heading."""
    found: list[tuple[date, str]] = []
    for line in body.splitlines()[1 : 1 + _HEADER_LINES * 3]:
        line = line.strip().rstrip("　 ")
        if not line:
            continue
        match = _DATED.match(line)
        if match is None:
            if found or not line.startswith("#"):
                break
            continue
        year, month, day, rest = match.groups()
        try:
            found.append((date(int(year), int(month), int(day)), rest.strip()))
        except ValueError:
            continue
        if len(found) >= _HEADER_LINES:
            break
    return found


def _organ(line: str) -> str | None:
    """The body that passed or published the text, from one opening line."""
    text = _ENACTED.sub("", line).strip()
    text = re.sub(r"^经", "", text)
    text = re.sub(r"令第.*?号.*$", "", text)  # 国务院令第656号公布 → 国务院
    text = re.sub(f"第{_ORDINAL}届", "", text)
    text = re.sub(f"第{_ORDINAL}次.*$", "", text)  # 第三十次会议 …
    text = re.sub(r"(部长办公会议|部务会议|常务会议|全体会议|会议|讨论|公告)$", "", text)
    if text.startswith(_NATION + "国务院"):
        text = text[len(_NATION) :]
    text = text.strip(" ，,、")
    if not text or len(text) > ISSUER_MAX or not re.fullmatch(r"[\u4e00-\u9fff（）()]+", text):
        return None
    return text


def read_version(body: str) -> VersionFacts:
    header = _header(body)
    if not header:
        return VersionFacts(issuer=None, version_date=None)
    enacted = [(day, rest) for day, rest in header if _ENACTED.search(rest)]
    # The enactment's first lines: "国务院批准" then "国家计量局发布": the publisher issues it.
    first_day = enacted[0][0] if enacted else None
    opening = [rest for day, rest in enacted if first_day and (day - first_day).days <= 60]
    published = [rest for rest in opening if _PUBLISHED.search(rest)]
    issuer = None
    for line in published + opening:
        issuer = _organ(line)
        if issuer:
            break
    # "2022年4月10日 施行" is when a version took effect, not a version of its own.
    dated = [day for day, rest in header if not _IN_FORCE.fullmatch(rest)]
    return VersionFacts(issuer=issuer, version_date=max(dated, default=None))


def _bare(title: str) -> str:
    return title.removeprefix(_NATION)


@dataclass(frozen=True)
class VersionRow:
    """What deciding the statuses needs of one regulation."""

    key: str
    title: str
    region: str | None
    version_date: date | None


def repealed_titles(decision_title: str, body: str) -> list[str]:
    """The titles a repeal decision (…关于废止…的决定) repeals: 废止《X》 in its text."""
    if "废止" not in decision_title:
        return []
    titles: list[str] = []
    for line in body.splitlines():
        if "废止" not in line:
            continue
        for match in _REPEALED_TITLE.finditer(line[line.index("废止") :]):
            titles.append(_bare(match.group(1)))
    return titles


def statuses(
    rows: Sequence[VersionRow], repeals: Iterable[tuple[str | None, date | None, list[str]]]
) -> dict[str, RegulationStatus | None]:
    """Each row's status from the whole set: ``repeals`` are (region, date, titles repealed) of
    the repeal decisions in the corpus."""
    groups: dict[tuple[str, str | None], list[VersionRow]] = defaultdict(list)
    for row in rows:
        groups[(_bare(row.title), row.region)].append(row)
    repealed: dict[tuple[str, str | None], date | None] = {}
    for region, day, titles in repeals:
        for title in titles:
            repealed[(title, region)] = day
    result: dict[str, RegulationStatus | None] = {}
    for (title, region), versions in groups.items():
        newest = max((v.version_date for v in versions if v.version_date), default=None)
        for version in versions:
            status: RegulationStatus | None = None
            if len(versions) > 1 and newest is not None and version.version_date is not None:
                # Two rows of the same date are copies of the same version: both in force.
                status = (
                    RegulationStatus.current
                    if version.version_date == newest
                    else RegulationStatus.amended
                )
            if (title, region) in repealed:
                # A version newer than the repeal decision is a re-enactment under the same name.
                repeal_day = repealed[(title, region)]
                if (
                    repeal_day is None
                    or version.version_date is None
                    or (version.version_date <= repeal_day)
                ):
                    status = RegulationStatus.repealed
            result[version.key] = status
    return result
