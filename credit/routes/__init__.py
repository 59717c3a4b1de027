"""Credit JSON API under /api/v1/credit: public reads (no login), the published records
(exports, feed, ledger), association work under /association (role association, own members
only; administrators name ?association=) and the enterprise registry (administrators)."""

from __future__ import annotations

from fastapi import APIRouter

from credit.routes import association, public, records, registry

router = APIRouter(prefix="/api/v1/credit", tags=["credit"])
router.include_router(public.router)
router.include_router(records.router)
router.include_router(association.router)
router.include_router(registry.router)
