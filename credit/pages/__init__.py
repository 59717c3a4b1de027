"""Portal pages of the credit evaluation: the public pages and the association back office."""

from __future__ import annotations

from fastapi import APIRouter

from credit.pages import manage, public

router = APIRouter(include_in_schema=False)
router.include_router(public.router)
router.include_router(manage.router)
