from __future__ import annotations

from fastapi import APIRouter

from portal.db import DbSession
from portal.regions import service
from portal.regions.schemas import RegionRead

router = APIRouter(prefix="/api/v1/regions", tags=["regions"])


@router.get(
    "", response_model=list[RegionRead], summary="Top-level divisions, or a division's children"
)
async def list_regions(session: DbSession, parent: str | None = None) -> list[RegionRead]:
    if parent is not None:
        await service.get_region(session, parent)
    rows = await service.list_children(session, parent)
    return [RegionRead.model_validate(row) for row in rows]


@router.get("/{code}", response_model=RegionRead, summary="One division")
async def get_region(session: DbSession, code: str) -> RegionRead:
    return RegionRead.model_validate(await service.get_region(session, code))
