"""Cells for CSV and XLSX exports that a spreadsheet will not run as formulas.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (OWASP, "CSV Injection"): an owner or enterprise named
``=HYPERLINK(…)`` would become a live link in a regulator's spreadsheet. Such a cell is prefixed
with a single quote, which the spreadsheet shows as text and does not evaluate. Every export
passes each cell through ``safe_cell``.
"""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """``value`` unchanged unless it is text a spreadsheet would evaluate; numbers and dates stay
    what they are (an XLSX cell keeps its type); None is the empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[object]) -> list[object]:
    return [safe_cell(value) for value in values]
