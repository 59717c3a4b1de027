"""The columns of a certificate file: their names, the Chinese headers an institution writes for
them, which are required, and how a header cell maps to a column. Shared by the file readers
(import_files.py) and the row validation (import_rows.py)."""

from __future__ import annotations

import re
from typing import Any

COLUMNS = (
    "number",
    "kind",
    "category_code",
    "model",
    "serial",
    "manufacturer",
    "owner_name",
    "owner_uscc",
    "owner_type",
    "address",
    "region_code",
    "regulation",
    "conclusion",
    "verified_on",
    "valid_until",
    "verifier",
    "latitude",
    "longitude",
)

# The headers an institution would write (from the certificate cover, JJF 1069-2012 / 2005 format).
CHINESE_HEADERS: dict[str, str] = {
    "证书编号": "number",
    "证书号": "number",
    "证书类型": "kind",
    "证书种类": "kind",
    "类型": "kind",
    "器具类别代码": "category_code",
    "器具类别": "category_code",
    "类别代码": "category_code",
    "计量器具类别": "category_code",
    "计量器具名称": "category_code",
    "器具名称": "category_code",
    "型号": "model",
    "型号规格": "model",
    "型号/规格": "model",
    "规格型号": "model",
    "出厂编号": "serial",
    "器具编号": "serial",
    "制造单位": "manufacturer",
    "生产厂家": "manufacturer",
    "制造厂": "manufacturer",
    "送检单位": "owner_name",
    "委托方": "owner_name",
    "使用单位": "owner_name",
    "所有人": "owner_name",
    "器具所有人": "owner_name",
    "统一社会信用代码": "owner_uscc",
    "信用代码": "owner_uscc",
    "所有人类型": "owner_type",
    "使用方类型": "owner_type",
    "送检单位类型": "owner_type",
    "地址": "address",
    "使用地址": "address",
    "安装地址": "address",
    "安装地点": "address",
    "行政区划代码": "region_code",
    "区划代码": "region_code",
    "行政区划": "region_code",
    "检定依据": "regulation",
    "检定规程": "regulation",
    "检定结论": "conclusion",
    "结论": "conclusion",
    "检定日期": "verified_on",
    "有效期至": "valid_until",
    "有效期": "valid_until",
    "检定员": "verifier",
    "纬度": "latitude",
    "经度": "longitude",
}

# How the portal names each column to an institution (messages, the template file): the header of
# the certificate cover, for a column the file did not name in its own words.
COLUMN_NAMES_ZH: dict[str, str] = {
    "number": "证书编号",
    "kind": "证书类型",
    "category_code": "器具类别代码",
    "model": "型号规格",
    "serial": "出厂编号",
    "manufacturer": "制造单位",
    "owner_name": "使用单位",
    "owner_uscc": "统一社会信用代码",
    "owner_type": "所有人类型",
    "address": "使用地址",
    "region_code": "行政区划代码",
    "regulation": "检定依据",
    "conclusion": "检定结论",
    "verified_on": "检定日期",
    "valid_until": "有效期至",
    "verifier": "检定员",
    "latitude": "纬度",
    "longitude": "经度",
}

REQUIRED = ("number", "category_code", "serial", "owner_name", "region_code", "verified_on")

# One row as a reader yields it: {column: value}, raw values (str, or typed from XLSX/JSON).
Row = dict[str, Any]


# A header is a few words; what is shown back of one (in every error of its column) is bounded.
HEADER_SHOWN_CHARS = 40


def header_text(raw: object) -> str:
    """A header cell as the institution wrote it, without BOM, required-marks or spaces."""
    return str(raw).replace("\ufeff", "").strip().strip("*＊").strip()


def header_shown(raw: object) -> str:
    """The header as the report names it: cut to ``HEADER_SHOWN_CHARS`` (a 120,000-character
    header repeated in each of 10,000 errors made a 36 MB answer)."""
    text = header_text(raw)
    return text if len(text) <= HEADER_SHOWN_CHARS else text[: HEADER_SHOWN_CHARS - 1] + "…"


def header_key(raw: object) -> str | None:
    """Map a header cell to a column name (English or Chinese, any case, stray marks ignored)."""
    if raw is None:
        return None
    text = header_text(raw)
    text = re.sub(r"[（(].*?[）)]", "", text).strip()  # "有效期至(YYYY-MM-DD)"
    lowered = text.lower().replace(" ", "_")
    if lowered in COLUMNS:
        return lowered
    return CHINESE_HEADERS.get(text)
