from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from portal.db import DbSession
from portal.regions import service
from portal.regions.schemas import RegionRead

router = APIRouter(prefix="/api/v1/regions", tags=["regions"])

RegionCode = Annotated[str, Path(pattern=r"^\d{6}$", description="GB/T 2260 code, e.g. 610400")]


@router.get(
    "", response_model=list[RegionRead], summary="Top-level divisions, or a division's children"
)
async def list_regions(
    session: DbSession,
    parent: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
) -> list[RegionRead]:
    if parent is not None:
        await service.require_region(session, parent)
    rows = await service.list_children(session, parent)
    return [RegionRead.model_validate(row) for row in rows]


@router.get("/{code}", response_model=RegionRead, summary="One division")
async def get_region(session: DbSession, code: RegionCode) -> RegionRead:
    return RegionRead.model_validate(await service.require_region(session, code))
