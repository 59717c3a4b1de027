"""Bulk registration: every row checked like a single registration, bad rows reported with their
line and column and nothing of them stored, rows already registered by this owner (serial +
category + manufacturer) counted as unchanged, so the same file may be sent twice."""

from __future__ import annotations

from datetime import date

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.instruments.import_files import ATTRIBUTE_COLUMNS, read_rows
from api.instruments.registration import (
    acting_owner,
    add_registration,
    check_instrument,
    enter_when_due,
    existing_keys,
)
from api.instruments.schemas import (
    InstrumentRegistrationCreate,
    RegistrationImportReport,
    RegistrationRowError,
)
from api.instruments.settings import InstrumentsSettings
from portal import clock
from portal.accounts.models import User
from portal.audit import service as audit

_USAGE_WORDS = {"贸易": "贸易结算", "安全": "安全防护", "医疗": "医疗卫生", "环境": "环境监测"}


def _date(text: str) -> date | None | str:
    """A date, None when blank, or the text back when it is no date."""
    value = text.strip().replace("/", "-").replace(".", "-")
    if not value:
        return None
    if "年" in value:
        value = value.replace("年", "-").replace("月", "-").replace("日", "")
    parts = value.split("-")
    try:
        if len(parts) == 1 and len(value) == 8:
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except (ValueError, IndexError):
        return text


def _row_model(
    line: int, row: dict[str, str]
) -> InstrumentRegistrationCreate | list[RegistrationRowError]:
    errors: list[RegistrationRowError] = []
    for column in ("category_code", "serial", "usage_area"):
        if not row.get(column):
            errors.append(
                RegistrationRowError(
                    line=line,
                    column=column,
                    code="required",
                    reason="required value is missing",
                    reason_zh="必填项为空",
                )
            )
    usage = row.get("usage_area", "")
    usage = next((full for word, full in _USAGE_WORDS.items() if usage.startswith(word)), usage)
    dates: dict[str, date | None] = {}
    for column in ("in_use_since", "last_verified_on"):
        parsed = _date(row.get(column, ""))
        if isinstance(parsed, str):
            errors.append(
                RegistrationRowError(
                    line=line,
                    column=column,
                    code="invalid_date",
                    reason="not a date (YYYY-MM-DD)",
                    reason_zh="日期格式应为 YYYY-MM-DD",
                )
            )
        else:
            dates[column] = parsed
    if errors:
        return errors
    try:
        return InstrumentRegistrationCreate(
            category_code=row["category_code"],
            model=row.get("model", ""),
            serial=row["serial"],
            manufacturer=row.get("manufacturer", ""),
            location=row.get("location", ""),
            usage_area=usage,  # checked by the model
            attributes={c: row[c] for c in ATTRIBUTE_COLUMNS if row.get(c)},
            in_use_since=dates.get("in_use_since"),
            last_verified_on=dates.get("last_verified_on"),
        )
    except ValidationError as exc:
        return [
            RegistrationRowError(
                line=line,
                column=str(error["loc"][0]) if error["loc"] else "",
                code="too_long" if "too_long" in error["type"] else "invalid_value",
                reason=error["msg"],
                reason_zh="用途应为 贸易结算、安全防护、医疗卫生 或 环境监测"
                if error["loc"] and error["loc"][0] == "usage_area"
                else "内容过长或格式不正确",
            )
            for error in exc.errors()
        ]


async def import_registrations(
    session: AsyncSession,
    *,
    filename: str,
    data: bytes,
    actor: User,
    settings: InstrumentsSettings,
    owner_code: str | None = None,
) -> RegistrationImportReport:
    owner = await acting_owner(session, actor, owner_code)
    today = clock.today()
    errors: list[RegistrationRowError] = []
    checked_rows = []
    total = 0
    seen: set[tuple[str, str, str]] = set()
    for line, row in read_rows(filename, data, max_rows=settings.registration_import_max_rows):
        total += 1
        model = _row_model(line, row)
        if isinstance(model, list):
            errors.extend(model)
            continue
        checked = check_instrument(model, today=today)
        if isinstance(checked, list):
            errors.extend(
                RegistrationRowError(
                    line=line, column=p.column, code=p.code, reason=p.reason, reason_zh=p.reason_zh
                )
                for p in checked
            )
            continue
        key = (checked.category_code, checked.serial, checked.manufacturer)
        if key in seen:
            errors.append(
                RegistrationRowError(
                    line=line,
                    column="serial",
                    code="duplicate_in_file",
                    reason="the same instrument appears earlier in the file",
                    reason_zh="与文件中前面的行重复（出厂编号、类别、制造单位相同）",
                )
            )
            continue
        seen.add(key)
        checked_rows.append(checked)
    known = await existing_keys(session, owner.id, {c.serial for c in checked_rows})
    created = []
    unchanged = 0
    for checked in checked_rows:
        if (checked.category_code, checked.serial, checked.manufacturer) in known:
            unchanged += 1
            continue
        created.append(await add_registration(session, checked, owner=owner, actor=actor))
    await enter_when_due(session, created, owners={owner.id: owner}, today=today)
    if created:
        await audit.record(
            session,
            actor=actor,
            action="instrument.import",
            entity_type="organization",
            entity_id=owner.id,
            region_code=owner.region_code,
            after={"file": filename[:200], "created": len(created), "unchanged": unchanged},
        )
    failed_lines = {e.line for e in errors}
    shown = errors[: settings.registration_import_max_errors]
    return RegistrationImportReport(
        owner=owner.code,
        total_rows=total,
        created=len(created),
        unchanged=unchanged,
        failed=len(failed_lines),
        errors=shown,
        errors_truncated=len(shown) < len(errors),
    )
