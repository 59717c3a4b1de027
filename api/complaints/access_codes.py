"""The 查询码 (access code) a submitter is shown once to follow a case: issued as 16 Crockford
base32 symbols (80 random bits) in groups of four, ``K7QM-2XHD-9P3R-T6WB``; accepted in any case,
with or without dashes or spaces, with the look-alikes I/L read as 1 and O as 0. Only its SHA-256
is stored. Codes issued before (32-character base64url tokens, case-sensitive) still match as
typed. docs/reliability.md gives the entropy budget against guessing."""

from __future__ import annotations

import hashlib
import re
import secrets

import base32_crockford

CODE_SYMBOLS = 16
CODE_BITS = 5 * CODE_SYMBOLS  # 80
GROUP = 4
_CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{16}$")
# What people type between groups besides a dash: spaces, full-width dashes and spaces.
_SEPARATORS = re.compile(r"[\s\-‐‑–—－　]")


def new_code() -> str:
    """A fresh code, grouped for reading aloud and copying by hand."""
    symbols: str = base32_crockford.encode(secrets.randbits(CODE_BITS))
    symbols = symbols.rjust(CODE_SYMBOLS, "0")
    return "-".join(symbols[i : i + GROUP] for i in range(0, CODE_SYMBOLS, GROUP))


def normalise(typed: str) -> str | None:
    """The 16 symbols a typed code stands for, or None when it is not a code of this shape."""
    compact = _SEPARATORS.sub("", typed)
    if len(compact) != CODE_SYMBOLS:
        return None
    try:
        symbols: str = base32_crockford.normalize(compact)
    except ValueError:
        return None
    return symbols if _CODE.match(symbols) else None


def hash_code(code: str) -> str:
    """What is stored for a new code: the hash of its 16 symbols, so every way of typing it
    matches. 80 random bits: a fast hash is enough, there is nothing to brute-force."""
    symbols = normalise(code)
    if symbols is None:
        raise ValueError("not an access code")
    return _sha256(symbols)


def candidate_hashes(typed: str) -> list[str]:
    """The stored hashes a typed code may match: the code as typed (a long token issued before
    the short codes) and, when it reads as a short code, its normalised symbols."""
    typed = typed.strip()
    hashes = [_sha256(typed)]
    symbols = normalise(typed)
    if symbols is not None:
        hashes.append(_sha256(symbols))
    return hashes


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
