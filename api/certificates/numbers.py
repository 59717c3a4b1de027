"""The one normal form of a certificate number: what is stored, and what every lookup (the lookup
page, the JSON API and its fast path, stickers, the back office, complaints) searches for.

People type numbers from paper certificates on phones: in lower case, with a Chinese input method
in full-width characters (ＸＹＪＣ２０２６－０００１), with spaces, or with a dash the keyboard chose
(－ — – −). NFKC folds full-width forms to ASCII; every dash becomes ``-``; white space goes; letters
are upper case. The same function normalises numbers on import and issue, so a stored number is
already in this form and a lookup stays one indexed equality (no ``lower()`` in SQL).
"""

from __future__ import annotations

import unicodedata

# The longest number stored (models.Certificate.number, schemas.CertificateCreate).
NUMBER_MAX_LENGTH = 64

# Dashes an input method or a word processor puts where a hyphen-minus was meant (after NFKC,
# which already maps the full-width and small hyphen-minus to "-").
_DASHES = str.maketrans(
    dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58", "-")
)


def normalize_number(text: str) -> str:
    """``xyjc2026-0001``, ``ＸＹＪＣ２０２６－０００１`` and ``XYJC 2026—0001`` all give
    ``XYJC2026-0001``."""
    return "".join(unicodedata.normalize("NFKC", text).translate(_DASHES).split()).upper()


def storable_number(number: str) -> bool:
    """Whether a normal form can name a stored certificate at all: no longer than a stored number
    and without a NUL (PostgreSQL text cannot hold one; the driver refuses the whole query)."""
    return len(number) <= NUMBER_MAX_LENGTH and "\x00" not in number
