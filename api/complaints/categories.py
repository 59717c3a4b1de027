"""The metrology complaint/report categories, as data. Each has its own extra fields, described the
way Open311 describes service attributes (the categories are the Open311 services), so the same
definition drives the app form, validation of ``extra`` and ``/open311/v2/services/{code}``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]

INSTRUMENT_KINDS = [
    ("scale", "电子计价秤"),
    ("fuel_dispenser", "加油机"),
    ("taxi_meter", "出租汽车计价器"),
    ("blood_pressure", "血压计"),
    ("water_meter", "水表"),
    ("gas_meter", "燃气表"),
    ("electricity_meter", "电能表"),
    ("other", "其他"),
]


@dataclass(frozen=True)
class Attribute:
    code: str
    description: str  # the question shown to the user
    datatype: Datatype
    required: bool = False
    values: list[tuple[str, str]] = field(default_factory=list)
    datatype_description: str = ""
    max_length: int = 500


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    description: str
    keywords: str
    attributes: list[Attribute] = field(default_factory=list)


def _instrument_kind(required: bool) -> Attribute:
    return Attribute(
        "instrument_kind", "涉及的计量器具", "singlevaluelist", required, INSTRUMENT_KINDS
    )


CATEGORIES: list[Category] = [
    Category(
        "short_weight",
        "缺斤短两",
        "购买商品时发现实际重量或数量少于所称、所付。",
        "缺斤短两,短秤,少秤,克扣",
        [
            Attribute("goods", "所购商品", "string", True, max_length=100),
            Attribute("claimed_quantity", "商家所称重量（克）", "number"),
            Attribute("actual_quantity", "复秤实际重量（克）", "number"),
            Attribute("amount_paid", "付款金额（元）", "number"),
            Attribute("purchased_at", "购买时间", "datetime"),
            _instrument_kind(False),
        ],
    ),
    Category(
        "unverified_instrument",
        "计量器具未检定或超期",
        "强制检定的计量器具没有检定标志、标志过期或未按期检定。",
        "未检定,超期,过期,检定标志",
        [
            _instrument_kind(True),
            Attribute(
                "sticker_state",
                "检定标志情况",
                "singlevaluelist",
                True,
                [("missing", "无标志"), ("expired", "标志已过期"), ("damaged", "标志破损")],
            ),
        ],
    ),
    Category(
        "forged_certificate",
        "检定证书/标志伪造",
        "检定证书或检定标志疑似伪造、涂改或冒用。",
        "伪造,假证,假标志,涂改",
        [
            _instrument_kind(False),
            Attribute("evidence", "可疑之处", "text", True, max_length=1000),
        ],
    ),
    Category(
        "cheating_device",
        "计量作弊装置",
        "计量器具被加装遥控器、改装芯片等作弊装置。",
        "作弊,遥控,改装,芯片",
        [
            _instrument_kind(True),
            Attribute("device_description", "作弊手法描述", "text", max_length=1000),
        ],
    ),
    Category(
        "short_quantity_package",
        "定量包装商品净含量不足",
        "定量包装商品的实际净含量少于标注。",
        "净含量,定量包装,分量不足",
        [
            Attribute("product_name", "商品名称", "string", True, max_length=100),
            Attribute("labelled_quantity", "标注净含量", "string", True, max_length=40),
            Attribute("measured_quantity", "实测净含量", "string", max_length=40),
            Attribute("batch", "生产批号或日期", "string", max_length=60),
        ],
    ),
    Category("other", "其他", "其他计量违法行为或计量纠纷。", "其他", []),
]

BY_CODE: dict[str, Category] = {c.code: c for c in CATEGORIES}


def get(code: str) -> Category | None:
    return BY_CODE.get(code)


def describe_extra(category_code: str, extra: dict[str, Any]) -> list[tuple[str, str]]:
    """The category's own fields as staff read them: the question asked on the form and the
    answer in words (排骨; 1000 克 not ``claimed_quantity 1000.0``; 无标志 not ``missing``)."""
    category = get(category_code)
    attributes = {a.code: a for a in category.attributes} if category else {}
    rows: list[tuple[str, str]] = []
    for key, value in extra.items():
        attr = attributes.get(key)
        if attr is None:
            rows.append((key, str(value)))
            continue
        if isinstance(value, float) and value.is_integer():
            shown = str(int(value))
        elif attr.values:
            labels = dict(attr.values)
            items = value if isinstance(value, list) else [value]
            shown = "、".join(labels.get(str(v), str(v)) for v in items)
        else:
            shown = str(value)
        rows.append((attr.description, shown))
    return rows


def validate_extra(category: Category, extra: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Clean ``extra`` against the category's attributes: (cleaned values, error messages).

    Unknown keys are refused rather than stored, so the extra fields stay what the form asked."""
    errors: list[str] = []
    cleaned: dict[str, Any] = {}
    known = {a.code: a for a in category.attributes}
    for key in extra:
        if key not in known:
            errors.append(f"{key}: not a field of category {category.code}")
    for attr in category.attributes:
        raw = extra.get(attr.code)
        if raw is None or raw == "" or raw == []:
            if attr.required:
                errors.append(f"{attr.code}: required ({attr.description})")
            continue
        try:
            cleaned[attr.code] = _clean(attr, raw)
        except ValueError as exc:
            errors.append(f"{attr.code}: {exc}")
    return cleaned, errors


def _clean(attr: Attribute, raw: Any) -> Any:
    if attr.datatype == "number":
        if isinstance(raw, bool):
            raise ValueError("must be a number")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError("must be a number") from None
        if value != value or value in (float("inf"), float("-inf")) or value < 0:
            raise ValueError("must be a non-negative number")
        return value
    if attr.datatype == "datetime":
        try:
            return datetime.fromisoformat(str(raw)).isoformat()
        except ValueError:
            raise ValueError("must be an ISO 8601 date-time") from None
    keys = [k for k, _ in attr.values]
    if attr.datatype == "singlevaluelist":
        if str(raw) not in keys:
            raise ValueError(f"must be one of {', '.join(keys)}")
        return str(raw)
    if attr.datatype == "multivaluelist":
        items = raw if isinstance(raw, list) else [raw]
        if not items or any(str(i) not in keys for i in items):
            raise ValueError(f"each value must be one of {', '.join(keys)}")
        return [str(i) for i in items]
    text = str(raw).strip()
    if len(text) > attr.max_length:
        raise ValueError(f"at most {attr.max_length} characters")
    return text
