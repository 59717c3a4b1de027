"""A complainant's name, phone and ID number are stored encrypted and found by a keyed hash."""

from __future__ import annotations

import httpx
from sqlalchemy import String, select, type_coerce

from api.complaints.models import CaseParty
from portal.crypto import keyed_hash
from portal.db import Database
from tests.api.complaints.support import complaint_body


async def test_personal_data_is_not_stored_in_clear(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = complaint_body(
        complainant={"name": "张三", "phone": "138 0013 8000", "id_number": "610402199001011234"}
    )
    response = await client.post("/api/v1/cases", json=body)
    assert response.status_code == 201, response.text

    table = CaseParty.__table__  # type: ignore[attr-defined]
    columns = [type_coerce(table.c[name], String) for name in ("name", "phone", "id_number")]
    async with database.sessionmaker() as session:
        raw = (await session.execute(select(*columns))).one()
        party = (await session.scalars(select(CaseParty))).one()
        by_phone = (
            await session.scalars(
                select(CaseParty).where(CaseParty.phone_hash == keyed_hash("13800138000"))
            )
        ).all()
    stored = " ".join(raw)
    for secret in ("张三", "13800138000", "138 0013 8000", "610402199001011234"):
        assert secret not in stored
    assert party.name == "张三"
    assert party.id_number == "610402199001011234"
    assert [p.id for p in by_phone] == [party.id]
