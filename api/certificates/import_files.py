"""Reading certificate files (CSV in UTF-8 with or without BOM or GB18030, XLSX, JSON Lines) one
row at a time: each reader yields (line, {column: value}) with raw values (str, or typed from
XLSX/JSON); import_rows.py validates them.

Nothing here holds a whole file: CSV and JSON Lines are decoded incrementally from the binary
stream, XLSX is read with openpyxl's read-only mode. The service stores rows in batches.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from typing import IO, Any, cast

from api.certificates.errors import UnsupportedImportFile
from api.certificates.import_columns import (
    COLUMN_NAMES_ZH,
    REQUIRED,
    Row,
    header_key,
    header_shown,
)
from api.certificates.import_limits import ImportLimits, bounded, check_xlsx_parts, too_large


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


def read_rows(
    stream: IO[bytes],
    filename: str,
    limits: ImportLimits | None = None,
    headers: dict[str, str] | None = None,
) -> Iterator[tuple[int, Row]]:
    """The file's rows; ``headers`` (when given) is filled with each column's header as the
    file wrote it (器具类别, 检定日期 …), so errors name the column in the institution's words."""
    limits = limits or ImportLimits()
    headers = headers if headers is not None else {}
    head = stream.read(65536)
    fmt = sniff_format(filename, head)
    if fmt == "xlsx":
        stream.seek(0)
        check_xlsx_parts(stream, limits)
        yield from bounded(_read_xlsx(stream, limits, headers), limits)
        return
    encoding = detect_encoding(head)
    text = io.TextIOWrapper(
        io.BufferedReader(_Peek(head, stream), 1 << 16), encoding=encoding, newline=""
    )
    try:
        if fmt == "jsonl":
            yield from bounded(_read_jsonl(text, limits, headers), limits)
        else:
            yield from bounded(_read_csv(text, limits, headers), limits, text_only=True)
    except csv.Error as exc:  # a field over csv.field_size_limit (128 KiB)
        raise too_large(
            f"A cell is longer than {limits.max_cell_chars} characters",
            f"单元格超过 {limits.max_cell_chars} 个字符",
        ) from exc
    except UnicodeDecodeError as exc:
        raise UnsupportedImportFile(
            f"The file is not valid {encoding} text: {exc.reason}.",
            detail_zh=f"文件编码无法识别（按 {encoding} 解码失败）。请另存为 UTF-8 或 GB18030 编码的 CSV。",
        ) from exc


def _columns(header: list[Any], limits: ImportLimits, headers: dict[str, str]) -> list[str | None]:
    if sum(1 for cell in header if cell is not None and str(cell).strip()) > limits.max_columns:
        raise too_large(
            f"More than {limits.max_columns} columns", f"超过 {limits.max_columns} 列的上限", 1
        )
    columns = [header_key(cell) for cell in header]
    for cell, column in zip(header, columns, strict=True):
        if column is not None:
            headers.setdefault(column, header_shown(cell))
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise UnsupportedImportFile(
            f"Missing columns: {', '.join(missing)}.",
            detail_zh=f"缺少必填列：{'、'.join(COLUMN_NAMES_ZH[c] for c in missing)}。",
            errors=[
                {"line": 1, "column": c, "code": "column_missing", "reason": "missing column"}
                for c in missing
            ],
        )
    return columns


def _read_csv(
    text: IO[str], limits: ImportLimits, headers: dict[str, str]
) -> Iterator[tuple[int, Row]]:
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    columns = _columns(header, limits, headers)
    known: list[str] | None = None if None in columns else cast(list[str], columns)
    for values in reader:
        if not "".join(values).strip():  # only blank cells
            continue
        if known is not None:
            row = dict(zip(known, values, strict=False))
        else:
            row = {col: v for col, v in zip(columns, values, strict=False) if col is not None}
        yield reader.line_num, row


def _read_jsonl(
    text: IO[str], limits: ImportLimits, headers: dict[str, str]
) -> Iterator[tuple[int, Row]]:
    line_no = 0
    while True:
        # readline with a limit: a line is never read whole past the row limit
        line = text.readline(limits.max_row_chars + 2)
        if not line:
            return
        line_no += 1
        if len(line) > limits.max_row_chars + 1:
            raise too_large(
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
                headers.setdefault(column, header_shown(key))
        yield line_no, row


def _read_xlsx(
    stream: IO[bytes], limits: ImportLimits, headers: dict[str, str]
) -> Iterator[tuple[int, Row]]:
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
        # Never more cells a row than can count: a sheet may declare 16,384 columns, and every
        # row, blank ones too, came padded to them (one more than the limit, so that a header
        # over it is still refused).
        rows = sheet.iter_rows(max_col=limits.max_columns + 1, values_only=True)
        try:
            header = list(next(rows))
        except StopIteration:
            return
        columns = _columns(header, limits, headers)
        # Blank lines count too, against a bound of their own: a 5 KB workbook whose one row
        # sits on the sheet's last line (1,048,576) is read line by line, every one blank.
        most_lines = 2 * limits.max_rows + 1_000
        for line_no, values in enumerate(rows, start=2):
            if line_no > most_lines:
                raise too_large(
                    f"More than {most_lines} lines, blank ones included",
                    f"文件超过 {most_lines} 行（含空行）",
                    line_no,
                )
            if values.count(None) == len(values):  # a blank line, told apart in C
                continue
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
