"""Reading certificate files (CSV in UTF-8 with or without BOM or GB18030, XLSX, JSON Lines) one
row at a time, and turning a row into a validated ``CertRow`` or a list of row errors.

Nothing here holds a whole file: CSV and JSON Lines are decoded incrementally from the binary
stream, XLSX is read with openpyxl's read-only mode. The service stores rows in batches.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import IO, Any

from stdnum.cn import uscc as uscc_check

from api.certificates.errors import ImportTooLarge, UnsupportedImportFile
from portal import clock

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

REQUIRED = ("number", "category_code", "serial", "owner_name", "region_code", "verified_on")

_NUMBER = re.compile(r"^[^\s/\\?#%]{1,64}$")
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


def header_key(raw: object) -> str | None:
    """Map a header cell to a column name (English or Chinese, any case, stray marks ignored)."""
    if raw is None:
        return None
    text = str(raw).replace("\ufeff", "").strip().strip("*＊").strip()
    text = re.sub(r"[（(].*?[）)]", "", text).strip()  # "有效期至(YYYY-MM-DD)"
    lowered = text.lower().replace(" ", "_")
    if lowered in COLUMNS:
        return lowered
    return CHINESE_HEADERS.get(text)


# ---------------------------------------------------------------------------------------------
# Readers: each yields (line, {column: value}) with raw values (str, or typed from XLSX/JSON).

Row = dict[str, Any]


def sniff_format(filename: str, head: bytes) -> str:
    name = filename.lower()
    if name.endswith(".xlsx") or head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if name.endswith((".jsonl", ".ndjson")) or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return "jsonl"
    if name.endswith((".csv", ".txt")) or not name:
        return "csv"
    raise UnsupportedImportFile(
        f"{filename}: use CSV, XLSX or JSON Lines.",
        detail_zh=f"{filename}：请使用 CSV、XLSX 或 JSON Lines 文件。",
    )


def detect_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM) when the sample decodes as UTF-8, else GB18030 (what Chinese
    Excel writes for "CSV"). The sample's last few bytes may cut a character in two."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


class _Peek(io.RawIOBase):
    """A binary stream with its first bytes put back after sniffing."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        chunk = self._rest.read(len(buffer))
        n = len(chunk)
        buffer[:n] = chunk
        return n


@dataclass(frozen=True)
class ImportLimits:
    """Bounds that refuse a file early (issue 11 #14): a cell, a row, the number of rows and
    columns, and for XLSX the uncompressed size of each XML part (a sheet, the shared strings),
    checked from the zip directory before openpyxl reads a byte of it."""

    max_cell_chars: int = 2000
    max_row_chars: int = 20_000
    max_rows: int = 500_000
    max_columns: int = 64
    max_xml_bytes: int = 128 * 1024 * 1024


def _too_large(what: str, what_zh: str, line: int | None = None) -> ImportTooLarge:
    where = f" (line {line})" if line is not None else ""
    where_zh = f"（第 {line} 行）" if line is not None else ""
    return ImportTooLarge(f"{what}{where}.", detail_zh=f"{what_zh}{where_zh}。")


def _bounded(rows: Iterator[tuple[int, Row]], limits: ImportLimits) -> Iterator[tuple[int, Row]]:
    count = 0
    for line, row in rows:
        count += 1
        if count > limits.max_rows:
            raise _too_large(
                f"More than {limits.max_rows} rows", f"超过 {limits.max_rows} 行的上限"
            )
        total = 0
        for value in row.values():
            size = len(value) if isinstance(value, str) else 0
            if size > limits.max_cell_chars:
                raise _too_large(
                    f"A cell is longer than {limits.max_cell_chars} characters",
                    f"单元格超过 {limits.max_cell_chars} 个字符",
                    line,
                )
            total += size
        if total > limits.max_row_chars:
            raise _too_large(
                f"A row is longer than {limits.max_row_chars} characters",
                f"一行超过 {limits.max_row_chars} 个字符",
                line,
            )
        yield line, row


def _check_xlsx_parts(stream: IO[bytes], limits: ImportLimits) -> None:
    """Refuse an XLSX whose XML parts would expand past the limit (a zip bomb: 1 MB that holds a
    1 GB cell). zipfile stops reading an entry at its declared size, so the sizes cannot lie."""
    import zipfile

    try:
        with zipfile.ZipFile(stream) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".xml") and info.file_size > limits.max_xml_bytes:
                    raise _too_large(
                        f"{info.filename} expands to {info.file_size} bytes, over the "
                        f"{limits.max_xml_bytes} byte limit",
                        f"工作表解压后超过 {limits.max_xml_bytes // (1024 * 1024)} MB 的上限",
                    )
    except zipfile.BadZipFile as exc:
        raise UnsupportedImportFile(
            "The XLSX file cannot be read.", detail_zh="无法读取该 XLSX 文件。"
        ) from exc
    stream.seek(0)


def read_rows(
    stream: IO[bytes], filename: str, limits: ImportLimits | None = None
) -> Iterator[tuple[int, Row]]:
    limits = limits or ImportLimits()
    head = stream.read(65536)
    fmt = sniff_format(filename, head)
    if fmt == "xlsx":
        stream.seek(0)
        _check_xlsx_parts(stream, limits)
        yield from _bounded(_read_xlsx(stream, limits), limits)
        return
    encoding = detect_encoding(head)
    text = io.TextIOWrapper(
        io.BufferedReader(_Peek(head, stream), 1 << 16), encoding=encoding, newline=""
    )
    try:
        if fmt == "jsonl":
            yield from _bounded(_read_jsonl(text, limits), limits)
        else:
            yield from _bounded(_read_csv(text, limits), limits)
    except csv.Error as exc:  # a field over csv.field_size_limit (128 KiB)
        raise _too_large(
            f"A cell is longer than {limits.max_cell_chars} characters",
            f"单元格超过 {limits.max_cell_chars} 个字符",
        ) from exc
    except UnicodeDecodeError as exc:
        raise UnsupportedImportFile(
            f"The file is not valid {encoding} text: {exc.reason}.",
            detail_zh=f"文件编码无法识别（按 {encoding} 解码失败）。请另存为 UTF-8 或 GB18030 编码的 CSV。",
        ) from exc


def _columns(header: list[Any], limits: ImportLimits) -> list[str | None]:
    if sum(1 for cell in header if cell is not None and str(cell).strip()) > limits.max_columns:
        raise _too_large(
            f"More than {limits.max_columns} columns", f"超过 {limits.max_columns} 列的上限", 1
        )
    columns = [header_key(cell) for cell in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise UnsupportedImportFile(
            f"Missing columns: {', '.join(missing)}.",
            detail_zh=f"缺少必填列：{'、'.join(missing)}。",
            errors=[
                {"line": 1, "column": c, "code": "column_missing", "reason": "missing column"}
                for c in missing
            ],
        )
    return columns


def _read_csv(text: IO[str], limits: ImportLimits) -> Iterator[tuple[int, Row]]:
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    columns = _columns(header, limits)
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        row = {col: v for col, v in zip(columns, values, strict=False) if col is not None}
        yield reader.line_num, row


def _read_jsonl(text: IO[str], limits: ImportLimits) -> Iterator[tuple[int, Row]]:
    line_no = 0
    while True:
        # readline with a limit: a line is never read whole past the row limit
        line = text.readline(limits.max_row_chars + 2)
        if not line:
            return
        line_no += 1
        if len(line) > limits.max_row_chars + 1:
            raise _too_large(
                f"A row is longer than {limits.max_row_chars} characters",
                f"一行超过 {limits.max_row_chars} 个字符",
                line_no,
            )
        line = line.strip().lstrip("\ufeff")
        if not line:
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            yield line_no, {"__error__": "invalid_json"}
            continue
        if not isinstance(data, dict):
            yield line_no, {"__error__": "not_an_object"}
            continue
        row: Row = {}
        for key, value in data.items():
            column = header_key(key)
            if column is not None:
                row[column] = value
        yield line_no, row


def _read_xlsx(stream: IO[bytes], limits: ImportLimits) -> Iterator[tuple[int, Row]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except (BadZipFile, OSError, KeyError, ValueError) as exc:
        raise UnsupportedImportFile(
            "The XLSX file cannot be read.", detail_zh="无法读取该 XLSX 文件。"
        ) from exc
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        try:
            header = list(next(rows))
        except StopIteration:
            return
        columns = _columns(header, limits)
        for line_no, values in enumerate(rows, start=2):
            if not any(v is not None and str(v).strip() for v in values):
                continue
            yield (
                line_no,
                {col: v for col, v in zip(columns, values, strict=False) if col is not None},
            )
    finally:
        workbook.close()


# ---------------------------------------------------------------------------------------------
# Validation


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
        """Fingerprint of everything the row says: the same row imported again is unchanged."""
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
    cycles: dict[str, int]
    default_cycle: int
    today: date


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
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 20000 <= value <= 80000:  # an Excel serial day number in a cell not formatted as date
            return _EXCEL_EPOCH + timedelta(days=int(value))
        value = _text(value)
    text = _text(value)
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


def validate_row(raw: Row, ctx: ValidationContext) -> CertRow | list[FieldError]:
    if "__error__" in raw:
        return [
            FieldError(
                "", raw["__error__"], "the line is not a JSON object", "该行不是有效的 JSON 对象"
            )
        ]
    errors: list[FieldError] = []
    values = {
        column: v.strip() if type(v) is str else _text(v)  # CSV cells are str: skip the checks
        for column in COLUMNS
        for v in (raw.get(column),)
    }
    for column in REQUIRED:
        if not values[column] and not (column == "verified_on" and raw.get(column)):
            errors.append(FieldError(column, "required", "required value is missing", "必填项为空"))

    number = values["number"]
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
    elif kind == "certificate" and verified_on is not None and category:
        valid_until = default_valid_until(verified_on, ctx.cycles.get(category, ctx.default_cycle))

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
        regulation=values["regulation"] or ctx.regulations.get(category, ""),
        conclusion=conclusion,
        verified_on=verified_on,
        valid_until=valid_until,
        verifier=values["verifier"],
        latitude=latitude,
        longitude=longitude,
    )
