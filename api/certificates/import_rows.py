"""Turning one row of a certificate file into a validated ``CertRow`` or a list of row errors."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from stdnum.cn import uscc as uscc_check

from api.certificates.catalogue import catalogue
from api.certificates.import_columns import COLUMNS, REQUIRED, Row
from api.certificates.numbers import normalize_number
from portal import clock

# A certificate number: up to 64 characters without spaces or URL specials, with at least one
# letter or digit ("-" alone is not a number anyone can look up).
_NUMBER = re.compile(r"^(?=.*[0-9A-Za-z])[^\s/\\?#%]{1,64}$")
# No compulsory verification recorded here predates the 1985 Metrology Law; a date before it is
# a typing slip (0001-01-01), not a certificate.
EARLIEST_VERIFICATION = date(1985, 1, 1)
_ORG_WORDS = (
    "公司",
    "厂",
    "店",
    "站",
    "市场",
    "超市",
    "中心",
    "医院",
    "院",
    "局",
    "所",
    "社",
    "部",
)

KIND_VALUES = {
    "certificate": "certificate",
    "检定证书": "certificate",
    "证书": "certificate",
    "c": "certificate",
    "notice": "notice",
    "检定结果通知书": "notice",
    "结果通知书": "notice",
    "通知书": "notice",
    "n": "notice",
}
OWNER_TYPES = {
    "enterprise": "enterprise",
    "企业": "enterprise",
    "单位": "enterprise",
    "法人": "enterprise",
    "individual": "individual",
    "个人": "individual",
    "个体": "individual",
    "自然人": "individual",
}


@dataclass
class CertRow:
    number: str
    kind: str
    category_code: str
    model: str
    serial: str
    manufacturer: str
    owner_name: str
    owner_uscc: str | None
    owner_type: str
    address: str
    region_code: str
    regulation: str
    conclusion: str
    verified_on: date
    valid_until: date | None
    verifier: str
    latitude: float | None
    longitude: float | None

    @property
    def instrument_key(self) -> tuple[str, str, str]:
        return (self.category_code, self.serial, self.manufacturer)

    def content_hash(self) -> str:
        """Fingerprint of everything the row says: the same row imported again is unchanged.
        Kept once made (a validated row is not changed): the bulk import's reader process
        makes it, and it travels with the row to the process that stores it."""
        known: str | None = self.__dict__.get("_content_hash")
        if known is None:
            known = self.__dict__["_content_hash"] = self._hash()
        return known

    def _hash(self) -> str:
        text = "\x1f".join(
            (
                self.number,
                self.kind,
                self.category_code,
                self.model,
                self.serial,
                self.manufacturer,
                self.owner_name,
                str(self.owner_uscc),
                self.owner_type,
                self.address,
                self.region_code,
                self.regulation,
                self.conclusion,
                str(self.verified_on),
                str(self.valid_until),
                self.verifier,
                str(self.latitude),
                str(self.longitude),
            )
        )
        return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class FieldError:
    column: str
    code: str
    reason: str
    reason_zh: str


@dataclass
class ValidationContext:
    categories: dict[str, str]  # lower-cased code or name → code
    regulations: dict[str, str]  # code → default regulation
    regions: set[str]
    cycles: dict[str, int]  # a province's overrides of the catalogue's cycles
    default_cycle: int
    today: date
    # (category, day) → (cycle limit, regulation): a file has a few categories and a few hundred
    # days, and the catalogue's walk through its regulations stood out in the import's profile
    _rules: dict[tuple[str, date], tuple[int | None, str]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def _rule(self, category: str, verified_on: date) -> tuple[int | None, str]:
        key = (category, verified_on)
        rule = self._rules.get(key)
        if rule is None:
            entry = catalogue().get(category)
            limit: int | None
            if category in self.cycles:
                limit = self.cycles[category]
            elif entry is None:
                limit = self.default_cycle
            else:
                limit = entry.longest_cycle(verified_on)
            if entry is None:
                regulation = self.regulations.get(category, "")
            else:
                regulation = entry.regulation_on(verified_on).code
            if len(self._rules) >= 65536:
                self._rules.clear()
            rule = self._rules[key] = (limit, regulation)
        return rule

    def cycle_limit(self, category: str, verified_on: date) -> int | None:
        """The longest validity, in months, a certificate of ``category`` verified on that day
        may have: the override, else the catalogue's longest cycle under the regulation then in
        force (a row names no attributes such as DN); None where the entry has no cycle."""
        return self._rule(category, verified_on)[0]

    def regulation(self, category: str, verified_on: date) -> str:
        return self._rule(category, verified_on)[1]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an XLSX serial typed as a number
    return str(value).strip()


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_EXCEL_EPOCH = date(1899, 12, 30)


def parse_date(value: Any) -> date | None:
    if type(value) is str:
        return _parse_date_text(value)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 20000 <= value <= 80000:  # an Excel serial day number in a cell not formatted as date
            return _EXCEL_EPOCH + timedelta(days=int(value))
        value = _text(value)
    return _parse_date_text(_text(value))


@lru_cache(maxsize=4096)
def _parse_date_text(value: str) -> date | None:
    """Cached: a file's dates are a few hundred days, each written thousands of times."""
    text = value.strip()
    if " " in text or "T" in text:  # "2026-01-05 00:00:00" from a spreadsheet
        text = re.split(r"[ T]", text, maxsplit=1)[0]
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                return date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                return None
    return None


def default_valid_until(verified_on: date, months: int) -> date:
    """A cycle of N months from the verification day, the last valid day inclusive."""
    return clock.add_months(verified_on, months) - timedelta(days=1)


def _float(
    value: Any, column: str, low: float, high: float, errors: list[FieldError]
) -> float | None:
    text = _text(value)
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not (low <= number <= high):
        errors.append(
            FieldError(column, "invalid_coordinate", "not a valid coordinate", "坐标不正确")
        )
        return None
    return number


@lru_cache(maxsize=4096)
def check_uscc(value: str) -> tuple[str, bool]:
    """(compact form, valid): cached, since one enterprise has many instruments in a file."""
    compact = uscc_check.compact(value).upper()
    return compact, uscc_check.is_valid(compact)


_NO_VALUES = dict.fromkeys(COLUMNS, "")


def validate_row(raw: Row, ctx: ValidationContext) -> CertRow | list[FieldError]:
    if "__error__" in raw:
        return [
            FieldError(
                "", raw["__error__"], "the line is not a JSON object", "该行不是有效的 JSON 对象"
            )
        ]
    errors: list[FieldError] = []
    values = _NO_VALUES.copy()  # every column, "" where the file has none
    for column, v in raw.items():
        if column in values:
            values[column] = v.strip() if type(v) is str else _text(v)  # CSV cells are str
    for column in REQUIRED:
        if not values[column] and not (column == "verified_on" and raw.get(column)):
            errors.append(FieldError(column, "required", "required value is missing", "必填项为空"))

    number = normalize_number(values["number"])
    if number and not _NUMBER.match(number):
        errors.append(
            FieldError(
                "number",
                "invalid_number",
                "1-64 characters without spaces, /, \\, ?, # or %",
                "证书编号须为 1-64 个字符，且不含空格和 / \\ ? # %",
            )
        )

    category = ""
    if values["category_code"]:
        category = ctx.categories.get(values["category_code"].lower(), "")
        if not category:
            errors.append(
                FieldError(
                    "category_code",
                    "unknown_category",
                    f"unknown instrument category {values['category_code']!r}",
                    f"器具类别 {values['category_code']} 不在强制管理目录中",
                )
            )

    region = values["region_code"]
    if region and region not in ctx.regions:
        errors.append(
            FieldError(
                "region_code", "unknown_region", "unknown GB/T 2260 code", "行政区划代码不存在"
            )
        )

    uscc: str | None = None
    if values["owner_uscc"]:
        compact, valid = check_uscc(values["owner_uscc"])
        if not valid:
            errors.append(
                FieldError(
                    "owner_uscc",
                    "invalid_uscc",
                    "not a valid unified social credit code (check digit)",
                    "统一社会信用代码无效（校验位不符）",
                )
            )
        uscc = compact

    owner_type = ""
    if values["owner_type"]:
        owner_type = OWNER_TYPES.get(values["owner_type"].lower(), "")
        if not owner_type:
            errors.append(
                FieldError(
                    "owner_type",
                    "invalid_owner_type",
                    "enterprise or individual",
                    "应为 企业 或 个人",
                )
            )
    elif uscc or any(word in values["owner_name"] for word in _ORG_WORDS):
        owner_type = "enterprise"
    else:
        owner_type = "individual"

    conclusion = values["conclusion"]
    kind = ""
    if values["kind"]:
        kind = KIND_VALUES.get(values["kind"].lower(), "")
        if not kind:
            errors.append(
                FieldError(
                    "kind",
                    "invalid_kind",
                    "certificate or notice",
                    "应为 检定证书 或 检定结果通知书",
                )
            )
    else:
        kind = "notice" if "不合格" in conclusion or conclusion.lower() == "fail" else "certificate"
    if kind == "certificate" and "不合格" in conclusion:
        errors.append(
            FieldError(
                "conclusion",
                "conclusion_mismatch",
                "a certificate's conclusion cannot be 不合格; issue a notice",
                "检定证书的结论不能为不合格，不合格应出具检定结果通知书",
            )
        )
    if not conclusion:
        conclusion = "合格" if kind == "certificate" else "不合格"

    verified_on = parse_date(raw.get("verified_on")) if values["verified_on"] else None
    if values["verified_on"] and verified_on is None:
        errors.append(
            FieldError(
                "verified_on", "invalid_date", "not a date (YYYY-MM-DD)", "日期格式应为 YYYY-MM-DD"
            )
        )
    elif verified_on is not None and verified_on < EARLIEST_VERIFICATION:
        errors.append(
            FieldError(
                "verified_on",
                "date_too_early",
                f"verification date before {EARLIEST_VERIFICATION.isoformat()}",
                f"检定日期早于 {EARLIEST_VERIFICATION.year} 年，请检查",
            )
        )
    elif verified_on is not None and verified_on > ctx.today + timedelta(days=1):
        errors.append(
            FieldError(
                "verified_on",
                "date_in_future",
                "verification date is in the future",
                "检定日期晚于今天",
            )
        )

    valid_until: date | None = None
    if values["valid_until"]:
        valid_until = parse_date(raw.get("valid_until"))
        if valid_until is None:
            errors.append(
                FieldError(
                    "valid_until",
                    "invalid_date",
                    "not a date (YYYY-MM-DD)",
                    "日期格式应为 YYYY-MM-DD",
                )
            )
        elif kind == "notice":
            errors.append(
                FieldError(
                    "valid_until",
                    "notice_has_no_validity",
                    "a failure notice has no validity date",
                    "检定结果通知书没有有效期",
                )
            )
            valid_until = None
        elif verified_on is not None and valid_until < verified_on:
            errors.append(
                FieldError(
                    "valid_until",
                    "valid_until_before_verified_on",
                    "valid_until is before verified_on",
                    "有效期早于检定日期",
                )
            )
        elif verified_on is not None and category:
            # The validity may not exceed the cycle of the category's regulation (公告2020年第42号
            # item 5: the cycle is the regulation's).
            # Certificates write either the day before or the same day a cycle later (检定日期
            # 2025-07-18, 有效期至 2026-07-17 or 2026-07-18): both are accepted.
            limit = ctx.cycle_limit(category, verified_on)
            if limit is not None and valid_until > clock.add_months(verified_on, limit):
                latest = clock.add_months(verified_on, limit).isoformat()
                regulation = ctx.regulation(category, verified_on)
                errors.append(
                    FieldError(
                        "valid_until",
                        "validity_exceeds_cycle",
                        f"valid_until after {latest}: the cycle of {category} is {limit} months"
                        f" ({regulation})",
                        f"有效期超过检定周期：按 {regulation}，该类器具周期为 {limit} 个月，"
                        f"有效期最晚至 {latest}",
                    )
                )
    elif kind == "certificate" and verified_on is not None and category:
        limit = ctx.cycle_limit(category, verified_on)
        valid_until = default_valid_until(verified_on, limit or ctx.default_cycle)

    latitude = _float(raw.get("latitude"), "latitude", -90, 90, errors)
    longitude = _float(raw.get("longitude"), "longitude", -180, 180, errors)

    for column, limit in (
        ("model", 100),
        ("serial", 100),
        ("manufacturer", 200),
        ("owner_name", 200),
        ("address", 300),
        ("regulation", 128),
        ("verifier", 64),
    ):
        if len(values[column]) > limit:
            errors.append(
                FieldError(
                    column, "too_long", f"longer than {limit} characters", f"超过 {limit} 个字符"
                )
            )
    if len(conclusion) > 100:
        errors.append(
            FieldError("conclusion", "too_long", "longer than 100 characters", "超过 100 个字符")
        )

    if errors:
        return errors
    assert verified_on is not None
    return CertRow(
        number=number,
        kind=kind,
        category_code=category,
        model=values["model"],
        serial=values["serial"],
        manufacturer=values["manufacturer"],
        owner_name=values["owner_name"],
        owner_uscc=uscc,
        owner_type=owner_type,
        address=values["address"],
        region_code=region,
        regulation=values["regulation"] or ctx.regulation(category, verified_on),
        conclusion=conclusion,
        verified_on=verified_on,
        valid_until=valid_until,
        verifier=values["verifier"],
        latitude=latitude,
        longitude=longitude,
    )
