"""Forgiving queries: pinyin, initials and same-sounding characters become the words meant.

People type 计量法 as ``jlf``, ``jiliangfa`` or ``计量fa`` (the input method not yet switched), and
电子秤 as 电子称 (秤 and 称 are both cheng). Neither engine finds those: Meilisearch's typo
tolerance works on letters, not on Han characters, and the embedded engine matches exactly. The
words people mean are known data (search/vocabulary.py ``TERMS``, the dictionary and the
synonyms), so a query is compared with them by toneless pinyin (pypinyin): the same answer on
both engines, computed before either is asked.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from search import text
from search.vocabulary import DICTIONARY, SYNONYM_GROUPS, TERMS

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_RUNS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z]+|[^a-z\u3400-\u9fff]+")


def _syllables(word: str) -> tuple[str, ...]:
    return tuple(lazy_pinyin(word, style=Style.NORMAL, errors="ignore"))


@lru_cache(maxsize=1)
def _targets() -> tuple[dict[str, str], dict[str, str], dict[tuple[str, ...], str]]:
    """(full pinyin → word, initials → word, syllables → word) over the known words. Earlier
    words win a tie, so TERMS (the words people mean most) come first."""
    words = list(dict.fromkeys([*TERMS, *DICTIONARY, *(w for g in SYNONYM_GROUPS for w in g)]))
    full: dict[str, str] = {}
    initials: dict[str, str] = {}
    sounds: dict[tuple[str, ...], str] = {}
    for word in words:
        if not _HAN.search(word) or len(word) < 2:
            continue
        syllables = _syllables(word)
        full.setdefault("".join(syllables), word)
        sounds.setdefault(syllables, word)
        if len(word) >= 3:  # two initials (jl) name too many words to guess from
            initials.setdefault("".join(s[0] for s in syllables), word)
    return full, initials, sounds


def _from_pinyin(letters: str) -> str | None:
    full, initials, _ = _targets()
    return full.get(letters) or initials.get(letters)


def _homophones(run: str) -> str:
    """Replace each stretch of ``run`` that sounds like a known word but is written otherwise."""
    _, _, sounds = _targets()
    lengths = sorted({len(k) for k in sounds}, reverse=True)
    syllables = _syllables(run)
    if len(syllables) != len(run):  # a character without a reading: leave the run alone
        return run
    out: list[str] = []
    i = 0
    while i < len(run):
        for length in lengths:
            word = sounds.get(tuple(syllables[i : i + length]))
            if word is not None and i + length <= len(run):
                out.append(word)
                i += length
                break
        else:
            out.append(run[i])
            i += 1
    return "".join(out)


@lru_cache(maxsize=2048)
def correction(query: str) -> str | None:
    """The query people meant, when it differs from what they typed; ``None`` otherwise."""
    typed = text.normalize(query).strip()
    if not typed:
        return None
    if text.is_pinyin_query(typed):
        return _from_pinyin(typed.replace(" ", ""))
    runs = _RUNS.findall(typed)
    out: list[str] = []
    for run in runs:
        if run.isascii() and run.isalpha():
            # 计量fa: the Han run before it and these letters may spell one known word.
            if out and _HAN.match(out[-1][-1:] or " "):
                joined = _from_pinyin("".join(_syllables(out[-1])) + run)
                if joined is not None:
                    out[-1] = joined
                    continue
            out.append(_from_pinyin(run) or run)
        elif _HAN.match(run):
            out.append(_homophones(run))
        else:
            out.append(run)
    corrected = "".join(out)
    return corrected if corrected != typed else None
