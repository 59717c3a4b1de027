"""Reading a bulk registration file (CSV in UTF-8, with or without BOM, or GB18030; XLSX) into
rows of {column: text}, with the Chinese headers an owner writes. The file is bounded in size
before it is read, an XLSX also in what it unpacks to, and rows in number and width."""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from typing import Any

from api.instruments.errors import RegistrationFileTooLarge, UnsupportedRegistrationFile

COLUMNS = (
    "category_code",
    "model",
    "serial",
    "manufacturer",
    "location",
    "usage_area",
    "dn",
    "medium",
    "qmax",
    "accuracy_class",
    "connection",
    "in_use_since",
    "last_verified_on",
)
REQUIRED = ("category_code", "serial", "usage_area")
ATTRIBUTE_COLUMNS = ("dn", "medium", "qmax", "accuracy_class", "connection")
HEADERS_ZH = {
    "器具类别": "category_code",
    "器具类别代码": "category_code",
    "类别代码": "category_code",
    "计量器具名称": "category_code",
    "器具名称": "category_code",
    "型号规格": "model",
    "型号": "model",
    "规格型号": "model",
    "出厂编号": "serial",
    "器具编号": "serial",
    "制造单位": "manufacturer",
    "生产厂家": "manufacturer",
    "安装位置": "location",
    "使用地点": "location",
    "位置": "location",
    "用途": "usage_area",
    "使用领域": "usage_area",
    "公称口径": "dn",
    "口径": "dn",
    "dn": "dn",
    "介质": "medium",
    "最大流量": "qmax",
    "准确度等级": "accuracy_class",
    "接入方式": "connection",
    "启用日期": "in_use_since",
    "投用日期": "in_use_since",
    "上次检定日期": "last_verified_on",
    "检定日期": "last_verified_on",
}
_MAX_CELL = 500
_MAX_COLUMNS = 40
_XLSX_EXPANSION = 20  # an XLSX may unpack to this many times its size, no more


def header_column(cell: Any) -> str | None:
    text = str(cell or "").strip().replace("（", "(").split("(")[0].strip()
    if text in COLUMNS:
        return text
    return HEADERS_ZH.get(text.lower() if text.isascii() else text)


# Stands, in the decoded text, for a CSV line that decodes in neither encoding (a private-use
# character no real file has): read_rows reports that line as the row's error.
UNDECODABLE = "\ue000"


def _by_line(data: bytes, encoding: str) -> tuple[str, int]:
    """The text with each line that does not decode replaced by UNDECODABLE, and how many."""
    lines = []
    broken = 0
    for raw in data.split(b"\n"):  # 0x0A is never part of a UTF-8 or GB18030 character
        try:
            lines.append(raw.decode(encoding))
        except UnicodeDecodeError:
            lines.append(UNDECODABLE)
            broken += 1
    return "\n".join(lines), broken


def _decoded(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[3:]
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    # Mostly one encoding, with a few lines broken (a character cut in two, a stray byte): those
    # lines are row errors and the others stand. The encoding is the one fewer lines fail in;
    # a file whose header, or half of whose lines, decode in neither is in another encoding.
    text, broken = min(
        (_by_line(data, encoding) for encoding in ("utf-8", "gb18030")), key=lambda t: t[1]
    )
    lines = sum(1 for line in data.split(b"\n") if line.strip())
    if text.startswith(UNDECODABLE) or broken * 2 > lines:
        raise UnsupportedRegistrationFile(
            "The CSV is neither UTF-8 nor GB18030.",
            detail_zh="CSV 文件既不是 UTF-8 也不是 GB18030 编码。",
        )
    return text


def _cells(values: list[Any]) -> list[str]:
    cells = []
    for value in values[:_MAX_COLUMNS]:
        if value is None:
            cells.append("")
        elif isinstance(value, float) and value.is_integer():
            cells.append(str(int(value)))
        elif hasattr(value, "isoformat"):
            cells.append(value.isoformat()[:10])
        else:
            cells.append(str(value).strip()[: _MAX_CELL + 1])
    return cells


def _raw_rows(filename: str, data: bytes) -> Iterator[list[str]]:
    name = filename.lower()
    if name.endswith(".xlsx") or data.startswith(b"PK\x03\x04"):
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            unpacked = sum(i.file_size for i in archive.infolist())
        except zipfile.BadZipFile:
            raise UnsupportedRegistrationFile(
                detail_zh=f"{filename} 不是有效的 XLSX 文件。"
            ) from None
        if unpacked > _XLSX_EXPANSION * max(len(data), 1024 * 1024):
            raise RegistrationFileTooLarge(detail_zh="XLSX 文件解压后过大。")
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:  # openpyxl raises many kinds for a damaged file
            raise UnsupportedRegistrationFile(
                detail_zh=f"{filename} 不是有效的 XLSX 文件。"
            ) from None
        try:
            # Never more cells a row than are read: a sheet may declare 16,384 columns, and
            # each row, empty ones too, came padded to them.
            sheet = book.worksheets[0]
            for cells in sheet.iter_rows(max_col=_MAX_COLUMNS, values_only=True):
                yield _cells(list(cells))
        finally:
            book.close()
        return
    if not name.endswith((".csv", ".txt")) and name:
        raise UnsupportedRegistrationFile(detail_zh=f"{filename}：请使用 CSV 或 XLSX 文件。")
    for line in csv.reader(io.StringIO(_decoded(data))):
        yield _cells(line)


def read_rows(
    filename: str, data: bytes, *, max_rows: int
) -> Iterator[tuple[int, dict[str, str] | None]]:
    """(line, {column: text}) for each non-empty row after the header, or (line, None) for a
    CSV line that decodes in neither encoding; a cell too long is kept one character too long,
    so that the row check reports it."""
    rows = _raw_rows(filename, data)
    header = next(rows, None)
    if header is None:
        raise UnsupportedRegistrationFile("The file is empty.", detail_zh="文件为空。")
    columns = [header_column(cell) for cell in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise UnsupportedRegistrationFile(
            f"Missing columns: {', '.join(missing)}.",
            detail_zh="缺少必需的列：" + "、".join(missing) + "（器具类别、出厂编号、用途）。",
        )
    count = 0
    # Blank lines count too, against a bound of their own: a 5 KB workbook whose one row sits on
    # the sheet's last line (1,048,576) was read line by line, every one blank, for most of a
    # minute, in the request's event loop.
    most_lines = 2 * max_rows + 1_000
    for line, values in enumerate(rows, start=2):
        if line > most_lines:
            raise RegistrationFileTooLarge(detail_zh=f"文件超过 {most_lines} 行（含空行）。")
        if not any(values):
            continue
        count += 1
        if count > max_rows:
            raise RegistrationFileTooLarge(detail_zh=f"文件超过 {max_rows} 行。")
        if values and values[0].startswith(UNDECODABLE):
            yield line, None
            continue
        row = {c: v for c, v in zip(columns, values, strict=False) if c is not None}
        yield line, row
