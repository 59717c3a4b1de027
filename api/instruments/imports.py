"""Bulk registration: every row checked like a single registration, bad rows reported with their
line and column and nothing of them stored, rows already registered by this owner (serial +
category + manufacturer) counted as unchanged, so the same file may be sent twice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

from pydantic import ValidationError
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.instruments.current import refresh_current
from api.instruments.import_files import ATTRIBUTE_COLUMNS, read_rows
from api.instruments.models import RegisteredInstrument as _registrations
from api.instruments.models import RegistrationEvent as _events
from api.instruments.models import RegistrationEventKind, RegistrationStatus
from api.instruments.registration import (
    Checked,
    acting_owner,
    check_instrument,
    existing_keys,
)
from api.instruments.schemas import (
    InstrumentRegistrationCreate,
    RegistrationImportReport,
    RegistrationRowError,
)
from api.instruments.settings import InstrumentsSettings
from portal import clock, facts
from portal.accounts.models import Organization, User
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
    # Reading and checking a file is CPU work of up to 20 MB: in a worker thread, so that the
    # serving process answers everyone else meanwhile (in the event loop, one owner's workbook
    # held every other request for its whole reading).
    total, errors, checked_rows = await asyncio.to_thread(
        read_and_check, filename, data, settings.registration_import_max_rows, clock.today()
    )
    known = await existing_keys(session, owner.id, {c.serial for c in checked_rows})
    fresh = [c for c in checked_rows if (c.category_code, c.serial, c.manufacturer) not in known]
    unchanged = len(checked_rows) - len(fresh)
    created = await _store(session, fresh, owner=owner, actor=actor)
    if created:
        await audit.record(
            session,
            actor=actor,
            action="instrument.import",
            entity_type="organization",
            entity_id=owner.id,
            region_code=owner.region_code,
            after={"file": filename[:200], "created": created, "unchanged": unchanged},
        )
    failed_lines = {e.line for e in errors}
    shown = errors[: settings.registration_import_max_errors]
    return RegistrationImportReport(
        owner=owner.code,
        total_rows=total,
        created=created,
        unchanged=unchanged,
        failed=len(failed_lines),
        errors=shown,
        errors_truncated=len(shown) < len(errors),
    )


def read_and_check(
    filename: str, data: bytes, max_rows: int, today: date
) -> tuple[int, list[RegistrationRowError], list[Checked]]:
    """Every row of the file read and checked (no database): how many rows, their errors, and
    the rows to store, the first of each instrument in the file."""
    errors: list[RegistrationRowError] = []
    checked_rows: list[Checked] = []
    total = 0
    seen: set[tuple[str, str, str]] = set()
    for line, row in read_rows(filename, data, max_rows=max_rows):
        total += 1
        if row is None:
            errors.append(
                RegistrationRowError(
                    line=line,
                    column="",
                    code="undecodable_row",
                    reason="the line is neither UTF-8 nor GB18030 text; nothing of it is stored",
                    reason_zh="这一行含有无法识别的字符（既不是 UTF-8 也不是 GB18030 编码），未登记，请检查后重新填写",
                )
            )
            continue
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
    return total, errors, checked_rows


_BATCH = 2000


async def _store(
    session: AsyncSession, rows: list[Checked], *, owner: Organization, actor: User
) -> int:
    """Insert the new registrations and their first events with Core statements, a batch at a
    time (building an ORM object per row costs more than the insert), then link those the
    registry already knows (an institution certified them), as a single registration is."""
    now = clock.now()
    registrations = _registrations.__table__  # type: ignore[attr-defined]
    events = _events.__table__  # type: ignore[attr-defined]
    created: list[tuple[uuid.UUID, tuple[str, str, str]]] = []
    for start in range(0, len(rows), _BATCH):
        values = []
        event_values = []
        for c in rows[start : start + _BATCH]:
            registration_id = uuid.uuid4()
            created.append((registration_id, (c.category_code, c.serial, c.manufacturer)))
            values.append(
                {
                    "id": registration_id, "owner_id": owner.id, "category_code": c.category_code,
                    "model": c.model, "serial": c.serial, "manufacturer": c.manufacturer,
                    "location": c.location, "usage_area": c.usage_area,
                    "attributes": dict(c.attributes), "region_code": owner.region_code,
                    "address": owner.address or "", "in_use_since": c.in_use_since,
                    "last_verified_on": c.last_verified_on,
                    "verification_form": c.verification_form, "cycle_months": c.cycle_months,
                    "due_on": c.due_on, "status": RegistrationStatus.pending.value,
                    "review_reason": "", "created_by": actor.id, "created_at": now,
                }
            )  # fmt: skip
            event_values.append(
                {
                    "id": uuid.uuid4(), "registration_id": registration_id,
                    "kind": RegistrationEventKind.registered.value, "at": now,
                    "actor_id": actor.id, "reason": "",
                    "data": {"serial": c.serial, "category_code": c.category_code},
                }
            )  # fmt: skip
        await session.execute(insert(registrations), values)
        await session.execute(insert(events), event_values)
    known = await facts.find_in_registry(session, [key for _, key in created])
    linked = [(rid, known[key]) for rid, key in created if key in known]
    for registration_id, state in linked:
        await session.execute(
            update(registrations)
            .where(registrations.c.id == registration_id)
            .values(registry_instrument_id=state.instrument_id)
        )
    if linked:
        await session.execute(
            insert(events),
            [
                {
                    "id": uuid.uuid4(), "registration_id": rid,
                    "kind": RegistrationEventKind.entered.value, "at": now, "actor_id": None,
                    "reason": "", "data": {"sticker_token": state.sticker_token},
                }
                for rid, state in linked
            ],
        )  # fmt: skip
        await refresh_current(session, [state.instrument_id for _, state in linked])
    return len(created)
