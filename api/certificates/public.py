"""What anyone may read about the registry without logging in, apart from the lookup: the
compulsory catalogue with its regulations and cycles (institutions fill their imports from it)."""

from __future__ import annotations

from datetime import date

from api.certificates.catalogue import FORM_ZH, Entry, catalogue
from api.certificates.schemas import (
    CatalogueVersion,
    CategoryAttributeRead,
    CategoryRegulationRead,
    CycleRuleRead,
    InstrumentCategoryRead,
)
from portal.pagination import PageRequest


def category_read(entry: Entry, on: date) -> InstrumentCategoryRead:
    book = catalogue()
    return InstrumentCategoryRead(
        code=entry.code,
        name=entry.name,
        group_name=entry.group,
        supervision_mode=entry.supervision_mode,
        verification_form=entry.verification_form,
        verification_form_name=FORM_ZH[entry.verification_form],
        usage_areas=list(entry.usage),
        scope=entry.scope,
        effective_from=entry.effective_from,
        regulation=entry.regulation_on(on).code,
        cycle_months=entry.longest_cycle(on),
        attributes=[
            CategoryAttributeRead(
                name=a.name,
                label=a.label,
                type=a.type,
                minimum=a.minimum,
                maximum=a.maximum,
                choices=list(a.choices),
            )
            for a in entry.attributes
        ],
        regulations=[
            CategoryRegulationRead(
                code=r.code,
                effective_from=r.effective_from,
                rules=[
                    CycleRuleRead(
                        months=rule.months,
                        verification_form=rule.form,
                        when=rule.when,
                        note=rule.note,
                    )
                    for rule in r.rules
                ],
                note=r.note,
            )
            for r in entry.regulations
        ],
        catalogue_version=book.version,
        checked=entry.checked,
        note=entry.note,
    )


def catalogue_version() -> CatalogueVersion:
    book = catalogue()
    return CatalogueVersion(
        version=book.version,
        title=book.title,
        issuer=book.issuer,
        published_on=book.published_on,
        effective_from=book.effective_from,
        source=book.source,
        transcription=book.transcription,
    )


def matching_entries(
    *, usage: str | None = None, form: str | None = None, q: str | None = None
) -> list[Entry]:
    """The catalogue's entries in its order, filtered by usage area, 实施方式 and a word of the
    name, the first-level name or the code."""
    found = []
    for entry in catalogue().entries:
        if usage and usage not in entry.usage:
            continue
        if form and entry.verification_form != form:
            continue
        if q and not any(
            q.lower() in text.lower() for text in (entry.code, entry.name, entry.group)
        ):
            continue
        found.append(entry)
    return found


def list_categories(
    *,
    page: PageRequest,
    on: date,
    usage: str | None = None,
    form: str | None = None,
    q: str | None = None,
) -> tuple[list[InstrumentCategoryRead], int]:
    found = matching_entries(usage=usage, form=form, q=q)
    chosen = found[page.offset : page.offset + page.limit]
    return [category_read(e, on) for e in chosen], len(found)
