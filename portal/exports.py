"""Cells for CSV and XLSX exports that a spreadsheet will not run as formulas.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (OWASP, "CSV Injection"): an owner or enterprise named
``=HYPERLINK(…)`` would become a live link in a regulator's spreadsheet. Such a cell is prefixed
with a single quote, which the spreadsheet shows as text and does not evaluate.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """``value`` as text that no spreadsheet evaluates (None is the empty cell)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text
