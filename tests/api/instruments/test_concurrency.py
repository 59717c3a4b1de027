"""Two requests at once on one registration or application (two officers, a double click, an
owner's withdrawal crossing the institution's answer): one is applied, the others are refused
with 409 and leave no event, and an instrument is never in two open applications."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from api.instruments.models import (
    ApplicationEvent,
    ApplicationItem,
    RegistrationEvent,
    RegistrationEventKind,
)
from portal.accounts.models import Organization, Role, User
from portal.db import Database
from tests.api.certificates.support import days
from tests.api.instruments.support import registration_body
from tests.support import assert_problem

Headers = Callable[[User], Awaitable[dict[str, str]]]
MakeUser = Callable[..., Awaitable[User]]


async def _registered(
    client: httpx.AsyncClient, owner: dict[str, str], bureau: dict[str, str] | None = None
) -> str:
    created = await client.post("/api/v1/instruments", json=registration_body(), headers=owner)
    assert created.status_code == 201, created.text
    registration_id: str = created.json()["id"]
    if bureau is not None:
        confirmed = await client.post(
            f"/api/v1/instruments/{registration_id}/confirm", headers=bureau
        )
        assert confirmed.status_code == 200, confirmed.text
    return registration_id


async def _application_body(
    database: Database, institution: User, registration_id: str
) -> dict[str, Any]:
    async with database.sessionmaker() as session:
        org = await session.get(Organization, institution.organization_id)
    assert org is not None
    return {
        "institution_code": org.code,
        "registration_ids": [registration_id],
        "preferred_on": days(3),
        "mode": "in_lab",
    }


async def _registration_events(database: Database, registration_id: str) -> list[str]:
    async with database.sessionmaker() as session:
        kinds = await session.scalars(
            select(col(RegistrationEvent.kind))
            .where(col(RegistrationEvent.registration_id) == uuid.UUID(registration_id))
            .order_by(col(RegistrationEvent.at), col(RegistrationEvent.id))
        )
        return [RegistrationEventKind(k).value for k in kinds.all()]


async def test_a_confirmation_and_a_rejection_at_once_apply_one(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    make_user: MakeUser,
    auth_headers: Headers,
) -> None:
    """Two officers of the bureau answer one registration together: both were told 200, it
    was confirmed and then rejected, with an event each (and once rejected it had entered the
    registry as confirmed)."""
    owner = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    other = await auth_headers(await make_user(Role.regulator, region="610400"))
    registration_id = await _registered(client, owner)
    url = f"/api/v1/instruments/{registration_id}"
    answers = await asyncio.gather(
        client.post(f"{url}/confirm", headers=bureau),
        client.post(f"{url}/reject", json={"reason": "出厂编号有误"}, headers=other),
        client.post(f"{url}/confirm", headers=other),
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409], [a.text for a in answers]
    applied = next(a.json() for a in answers if a.status_code == 200)
    for answer in answers:
        if answer.status_code == 409:
            assert_problem(answer, 409, "registration_not_pending")
    kinds = await _registration_events(database, registration_id)
    reviews = [k for k in kinds if k in ("confirmed", "rejected")]
    assert reviews == [applied["status"]], kinds
    final = await client.get(f"/api/v1/instrument-registrations/{registration_id}", headers=owner)
    assert final.json()["status"] == applied["status"]


async def test_a_retirement_and_a_replacement_at_once_apply_one(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    make_user: MakeUser,
    auth_headers: Headers,
) -> None:
    """The owner's retire and replace sent together (two staff, two tabs): both were applied,
    the instrument retired twice and a replacement registered for a retired instrument."""
    owner = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    registration_id = await _registered(client, owner, bureau)
    url = f"/api/v1/instruments/{registration_id}/events"
    answers = await asyncio.gather(
        client.post(url, json={"kind": "retired", "reason": "报废"}, headers=owner),
        client.post(
            url,
            json={"kind": "replaced", "replacement": registration_body(serial="NEW-1")},
            headers=owner,
        ),
        client.post(
            url,
            json={"kind": "replaced", "replacement": registration_body(serial="NEW-2")},
            headers=owner,
        ),
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409], [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert_problem(answer, 409, "registration_retired")
    kinds = await _registration_events(database, registration_id)
    assert len([k for k in kinds if k in ("retired", "replaced")]) == 1, kinds
    mine = (await client.get("/api/v1/instrument-registrations", headers=owner)).json()
    assert mine["total"] <= 2  # the instrument, and at most one replacement


async def test_two_applications_at_once_name_an_instrument_once(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    institution_user: User,
    make_user: MakeUser,
    auth_headers: Headers,
) -> None:
    """A double click on 提交申请: each submission found no open application for the instrument
    and all were stored, so the instrument sat in three open applications."""
    owner = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    registration_id = await _registered(client, owner, bureau)
    body = await _application_body(database, institution_user, registration_id)
    answers = await asyncio.gather(
        *(client.post("/api/v1/verification-applications", json=body, headers=owner) for _ in "abc")
    )
    assert sorted(a.status_code for a in answers) == [201, 422, 422], [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 422:
            problem = assert_problem(answer, 422, "application_invalid")
            assert [e["type"] for e in problem["errors"]] == ["already_applied"]
    async with database.sessionmaker() as session:
        items = await session.scalar(
            select(func.count())
            .select_from(ApplicationItem)
            .where(col(ApplicationItem.registration_id) == uuid.UUID(registration_id))
        )
    assert items == 1


async def test_acceptances_and_withdrawals_at_once_apply_in_one_order(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    institution_user: User,
    make_user: MakeUser,
    auth_headers: Headers,
) -> None:
    """Two staff of the institution accept with different appointments while the owner
    withdraws twice: each read "submitted" and all four were told 200 (accepted twice, then
    withdrawn twice, an event each). Now they apply as if one after the other: at most one
    acceptance, at most one withdrawal after it, and every other answer is 409."""
    owner = await auth_headers(owner_user)
    lab = await auth_headers(institution_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    registration_id = await _registered(client, owner, bureau)
    body = await _application_body(database, institution_user, registration_id)
    created = await client.post("/api/v1/verification-applications", json=body, headers=owner)
    assert created.status_code == 201, created.text
    url = f"/api/v1/verification-applications/{created.json()['id']}"
    answers = await asyncio.gather(
        client.post(f"{url}/accept", json={"appointment_on": days(4)}, headers=lab),
        client.post(f"{url}/cancel", headers=owner),
        client.post(f"{url}/accept", json={"appointment_on": days(5)}, headers=lab),
        client.post(f"{url}/cancel", headers=owner),
    )
    for answer in answers:
        if answer.status_code != 200:
            assert_problem(answer, 409, "application_state_conflict")
    async with database.sessionmaker() as session:
        kinds = list(
            (
                await session.scalars(
                    select(col(ApplicationEvent.kind))
                    .where(col(ApplicationEvent.application_id) == uuid.UUID(created.json()["id"]))
                    .order_by(col(ApplicationEvent.at), col(ApplicationEvent.id))
                )
            ).all()
        )
    assert kinds in (
        ["submitted", "cancelled"],
        ["submitted", "accepted", "cancelled"],
    ), kinds
    assert len([a for a in answers if a.status_code == 200]) == len(kinds) - 1
    now = (await client.get(url, headers=owner)).json()
    assert now["status"] == "cancelled"
