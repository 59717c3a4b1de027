"""The compulsory catalogue and its cycle engine: what ``catalogue_2020.json`` says, read once.

The data file is the whole 实施强制管理的计量器具目录 (市场监管总局公告2020年第42号) as data: each
entry's first- and second-level names, supervision mode, 实施方式, usage areas, and its JJG
regulations, each with the day it takes effect and its cycle rules. Item 5 of the announcement:
the cycle is the one the instrument's regulation sets, so a revised regulation (JJG 1204-2025 for
电子计价秤 from 2027-01-08) is one more regulation in the file, never code.

A cycle rule may depend on the instrument's attributes (a water meter's nominal diameter, a gas
meter's medium and maximum flow); the first rule whose conditions hold is the instrument's. Without
attributes (a certificate row names none) the longest of the rules is the bound a certificate's
validity may not exceed. The migration loads the same file into ``instrument_category``, the rows
the registry's foreign keys point at; ``gongzhi certificates catalogue-sync`` reloads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).with_name("catalogue_2020.json")

FORM_ZH = {
    "periodic": "周期检定",
    "initial_rotation": "只作首次强制检定，限期使用，到期轮换",
    "initial_scrap": "只作首次强制检定，失准报废",
    "none": "不实施强制检定（型式批准）",
}
# What "due" means for each form: re-verification, or replacing the instrument.
FIRST_ONLY_FORMS = frozenset({"initial_rotation", "initial_scrap"})

Attributes = dict[str, str | int]


class AttributeProblem(ValueError):
    """An attribute missing where the cycle needs it, or not a value the entry allows."""

    def __init__(self, name: str, code: str, message: str, message_zh: str) -> None:
        super().__init__(message)
        self.name = name
        self.code = code
        self.message_zh = message_zh


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    label: str
    type: str  # "int" or "choice"
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()

    def check(self, value: Any) -> str | int:
        if self.type == "int":
            try:
                number = int(str(value).strip())
            except ValueError:
                number = None
            if number is None or not ((self.minimum or 0) <= number <= (self.maximum or 1_000_000)):
                raise AttributeProblem(
                    self.name,
                    "invalid_attribute",
                    f"{self.name}: a whole number from {self.minimum} to {self.maximum}",
                    f"{self.label} 应为 {self.minimum}～{self.maximum} 的整数",
                )
            return number
        text = str(value).strip()
        if text not in self.choices:
            raise AttributeProblem(
                self.name,
                "invalid_attribute",
                f"{self.name}: one of {', '.join(self.choices)}",
                f"{self.label} 应为：{'、'.join(self.choices)}",
            )
        return text


@dataclass(frozen=True)
class CycleRule:
    months: int | None  # None: no cycle (失准报废, or type approval only)
    form: str
    when: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str = ""

    def needs(self) -> set[str]:
        return set(self.when)

    def holds(self, attributes: Attributes) -> bool:
        for name, condition in self.when.items():
            value = attributes.get(name)
            if value is None:
                return False
            if "in" in condition and value not in condition["in"]:
                return False
            if isinstance(value, int):
                if "gt" in condition and not value > condition["gt"]:
                    return False
                if "le" in condition and not value <= condition["le"]:
                    return False
        return True


@dataclass(frozen=True)
class Regulation:
    code: str
    effective_from: date
    rules: tuple[CycleRule, ...]
    note: str = ""


@dataclass(frozen=True)
class Entry:
    code: str
    group: str
    name: str
    supervision_mode: str
    verification_form: str
    usage: tuple[str, ...]
    scope: str
    regulations: tuple[Regulation, ...]  # by effective date
    attributes: tuple[AttributeSpec, ...]
    effective_from: date
    checked: bool
    note: str
    order: int

    def regulation_on(self, day: date) -> Regulation:
        """The regulation in force on ``day`` (the earliest one before the first takes effect)."""
        current = self.regulations[0]
        for regulation in self.regulations:
            if regulation.effective_from <= day:
                current = regulation
        return current

    def upcoming(self, day: date) -> list[Regulation]:
        return [r for r in self.regulations if r.effective_from > day]

    def compulsory_on(self, day: date) -> bool:
        return self.verification_form != "none" and self.effective_from <= day

    def attribute_names(self) -> set[str]:
        return {name for r in self.regulations for rule in r.rules for name in rule.needs()}

    def checked_attributes(self, raw: dict[str, Any] | None) -> Attributes:
        """The entry's attributes from ``raw``, typed; unknown names and bad values refused."""
        specs = {a.name: a for a in self.attributes}
        result: Attributes = {}
        for name, value in (raw or {}).items():
            if value is None or str(value).strip() == "":
                continue
            spec = specs.get(name)
            if spec is None:
                raise AttributeProblem(
                    name,
                    "unknown_attribute",
                    f"{self.name} has no attribute {name!r}",
                    f"{self.name} 没有属性 {name}",
                )
            result[name] = spec.check(value)
        return result

    def cycle(self, day: date, attributes: Attributes) -> CycleRule:
        """The cycle rule of an instrument with these attributes, verified on ``day``."""
        regulation = self.regulation_on(day)
        for rule in regulation.rules:
            if rule.holds(attributes):
                return rule
        missing = sorted({n for rule in regulation.rules for n in rule.needs()} - set(attributes))
        specs = {a.name: a for a in self.attributes}
        name = missing[0] if missing else sorted(self.attribute_names())[0]
        label = specs[name].label if name in specs else name
        raise AttributeProblem(
            name,
            "attribute_required",
            f"{self.name}: the cycle depends on {name} ({regulation.code})",
            f"{self.name}的检定周期取决于{label}（{regulation.code}），请填写",
        )

    def longest_cycle(self, day: date) -> int | None:
        """The longest cycle any instrument of the entry may have (no attributes known)."""
        months = [r.months for r in self.regulation_on(day).rules if r.months is not None]
        return max(months) if months else None


@dataclass(frozen=True)
class Catalogue:
    version: str
    title: str
    issuer: str
    published_on: date
    effective_from: date
    source: str
    transcription: str
    entries: tuple[Entry, ...]
    by_code: dict[str, Entry]

    def get(self, code: str) -> Entry | None:
        return self.by_code.get(code)

    def find(self, text: str) -> Entry | None:
        """The entry a person names: its code (any case), its second-level name, or a
        first-level name that has a single entry (水表, 燃气表)."""
        text = text.strip()
        found = self.by_code.get(text) or self.by_code.get(text.lower())
        if found is not None:
            return found
        for entry in self.entries:
            if entry.name == text:
                return entry
        group = [e for e in self.entries if e.group == text]
        return group[0] if len(group) == 1 else None


def _rule(raw: dict[str, Any], default_form: str) -> CycleRule:
    return CycleRule(
        months=raw.get("months"),
        form=raw.get("form", default_form),
        when=raw.get("when", {}),
        note=raw.get("note", ""),
    )


def _entry(raw: dict[str, Any], order: int, catalogue_from: date) -> Entry:
    form = raw["verification_form"]
    regulations = tuple(
        sorted(
            (
                Regulation(
                    code=r["code"],
                    effective_from=date.fromisoformat(r["effective_from"]),
                    rules=tuple(_rule(rule, form) for rule in r["rules"]),
                    note=r.get("note", ""),
                )
                for r in raw["regulations"]
            ),
            key=lambda r: r.effective_from,
        )
    )
    attributes = tuple(
        AttributeSpec(
            name=a["name"],
            label=a["label"],
            type=a["type"],
            minimum=a.get("min"),
            maximum=a.get("max"),
            choices=tuple(a.get("choices", ())),
        )
        for a in raw.get("attributes", ())
    )
    return Entry(
        code=raw["code"],
        group=raw["group"],
        name=raw["name"],
        supervision_mode=raw["supervision_mode"],
        verification_form=form,
        usage=tuple(raw["usage"]),
        scope=raw["scope"],
        regulations=regulations,
        attributes=attributes,
        effective_from=date.fromisoformat(raw.get("effective_from", catalogue_from.isoformat())),
        checked=bool(raw.get("checked", False)),
        note=raw.get("note", ""),
        order=order,
    )


def parse(document: dict[str, Any]) -> Catalogue:
    start = date.fromisoformat(document["effective_from"])
    entries = tuple(_entry(raw, i, start) for i, raw in enumerate(document["entries"], 1))
    return Catalogue(
        version=document["version"],
        title=document["title"],
        issuer=document["issuer"],
        published_on=date.fromisoformat(document["published_on"]),
        effective_from=start,
        source=document["source"],
        transcription=document["transcription"],
        entries=entries,
        by_code={e.code: e for e in entries},
    )


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    return parse(json.loads(DATA_FILE.read_text(encoding="utf-8")))


def due_status(form: str) -> str:
    """The status of an instrument whose validity (or service life) has passed: a first-only
    instrument is replaced when its life ends (到期更换), any other is overdue (已过期)."""
    return "replace" if form in FIRST_ONLY_FORMS else "expired"
