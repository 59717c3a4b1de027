"""Field types shared by every domain's schemas and routes."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> Any:
    # Pydantic's lax mode reads "0" or 1700000000 as a Unix timestamp; a date in this API is
    # always written YYYY-MM-DD.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("a date is written YYYY-MM-DD")
    if isinstance(value, int | float):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date"}),
]


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


# An optional query parameter a page's form sends empty when left blank (a GET form sends every
# field: ``kind=&date_from=``): blank means "not given", as if the field were absent.
BlankIsNone = BeforeValidator(_blank_is_none)


def blank_or(schema: dict[str, Any]) -> WithJsonSchema:
    """The documented schema of a parameter ``BlankIsNone`` reads: its own, or an empty string."""
    return WithJsonSchema({"anyOf": [schema, {"type": "string", "maxLength": 0}]})


# A date a GET form may send blank: YYYY-MM-DD, or empty for "not given".
OptionalIsoDate = Annotated[
    IsoDate | None, BlankIsNone, blank_or({"type": "string", "format": "date"})
]
