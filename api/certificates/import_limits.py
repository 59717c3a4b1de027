"""Bounds that refuse an oversized certificate file early (issue 11 #14), before a cell, a row or
an XLSX part can take the server's memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from api.certificates.errors import ImportTooLarge, UnsupportedImportFile
from api.certificates.import_columns import Row


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


def too_large(what: str, what_zh: str, line: int | None = None) -> ImportTooLarge:
    where = f" (line {line})" if line is not None else ""
    where_zh = f"（第 {line} 行）" if line is not None else ""
    return ImportTooLarge(f"{what}{where}.", detail_zh=f"{what_zh}{where_zh}。")


def bounded(
    rows: Iterator[tuple[int, Row]], limits: ImportLimits, *, text_only: bool = False
) -> Iterator[tuple[int, Row]]:
    """``rows`` checked against the limits; ``text_only``: every value is a str (CSV)."""
    count = 0
    for line, row in rows:
        count += 1
        if count > limits.max_rows:
            raise too_large(f"More than {limits.max_rows} rows", f"超过 {limits.max_rows} 行的上限")
        # Only text counts (an XLSX or JSON number has no length to bound).
        if text_only:
            sizes = list(map(len, row.values()))
        else:
            sizes = [len(v) if isinstance(v, str) else 0 for v in row.values()]
        if sizes and max(sizes) > limits.max_cell_chars:
            raise too_large(
                f"A cell is longer than {limits.max_cell_chars} characters",
                f"单元格超过 {limits.max_cell_chars} 个字符",
                line,
            )
        if sum(sizes) > limits.max_row_chars:
            raise too_large(
                f"A row is longer than {limits.max_row_chars} characters",
                f"一行超过 {limits.max_row_chars} 个字符",
                line,
            )
        yield line, row


def check_xlsx_parts(stream: IO[bytes], limits: ImportLimits) -> None:
    """Refuse an XLSX whose XML parts would expand past the limit (a zip bomb: 1 MB that holds a
    1 GB cell). zipfile stops reading an entry at its declared size, so the sizes cannot lie."""
    import zipfile

    try:
        with zipfile.ZipFile(stream) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".xml") and info.file_size > limits.max_xml_bytes:
                    raise too_large(
                        f"{info.filename} expands to {info.file_size} bytes, over the "
                        f"{limits.max_xml_bytes} byte limit",
                        f"工作表解压后超过 {limits.max_xml_bytes // (1024 * 1024)} MB 的上限",
                    )
    except zipfile.BadZipFile as exc:
        raise UnsupportedImportFile(
            "The XLSX file cannot be read.", detail_zh="无法读取该 XLSX 文件。"
        ) from exc
    stream.seek(0)
