"""The bureau's review of institutions: their authorisation scope (授权证书, scope.py) and the
certificates held because their instrument is ambiguous (待核对证书, review_queue.py). Included in
the domain's router by routes.py; kept apart so that no routes module outgrows one reading."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from api.certificates import review_queue, scope
from api.certificates.models import ReviewStatus
from api.certificates.schemas import (
    AuthorisationCreate,
    AuthorisationList,
    AuthorisationRead,
    AuthorisationRevoke,
    ReviewList,
    ReviewRead,
    ReviewResolve,
)
from api.certificates.settings import CertificatesConfig
from portal.accounts.auth import CurrentUser
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession
from portal.pagination import PageParams

router = APIRouter(tags=["certificates"])

# --- 授权证书: institutions' authorisation scope (scope.py) ------------------------------------

ScopeManager = Annotated[User, Depends(require(Action.institution_scope_manage))]
Reviewer = Annotated[User, Depends(require(Action.certificate_review))]
AuthorisationId = Annotated[uuid.UUID, Path()]
ReviewId = Annotated[uuid.UUID, Path()]


@router.post(
    "/api/v1/institution-authorisations",
    response_model=AuthorisationRead,
    status_code=status.HTTP_201_CREATED,
    summary="Record an institution's authorisation (授权证书): categories × regions, validity",
)
async def record_authorisation(
    session: DbSession, actor: ScopeManager, data: AuthorisationCreate
) -> AuthorisationRead:
    created = await scope.record_authorisation(session, data, actor=actor)
    return (await scope.read_models(session, [created]))[0]


@router.get(
    "/api/v1/institution-authorisations",
    response_model=AuthorisationList,
    summary="Authorisations: the institution's own, or those a regulator's region issued",
)
async def list_authorisations(
    request: Request,
    session: DbSession,
    actor: CurrentUser,
    page: PageParams,
    institution: Annotated[str | None, Query(max_length=64)] = None,
) -> AuthorisationList:
    rows, total = await scope.list_authorisations(
        session, actor=actor, page=page, institution=institution
    )
    items = await scope.read_models(session, rows)
    return AuthorisationList.of(items, total=total, request=page, url=request)


@router.get(
    "/api/v1/institution-authorisations/{authorisation_id}",
    response_model=AuthorisationRead,
    summary="One authorisation",
)
async def read_authorisation(
    session: DbSession, actor: CurrentUser, authorisation_id: AuthorisationId
) -> AuthorisationRead:
    found = await scope.get_authorisation(session, authorisation_id, actor=actor)
    return (await scope.read_models(session, [found]))[0]


@router.post(
    "/api/v1/institution-authorisations/{authorisation_id}/revoke",
    response_model=AuthorisationRead,
    summary="Revoke an authorisation (it then covers nothing), with a reason",
)
async def revoke_authorisation(
    session: DbSession,
    actor: ScopeManager,
    authorisation_id: AuthorisationId,
    data: AuthorisationRevoke,
) -> AuthorisationRead:
    found = await scope.revoke_authorisation(
        session, authorisation_id, reason=data.reason, actor=actor
    )
    return (await scope.read_models(session, [found]))[0]


# --- held certificates (review_queue.py) ------------------------------------------------------


@router.get(
    "/api/v1/certificate-reviews",
    response_model=ReviewList,
    summary="Held certificates: a regulator's region and below, or the institution's own",
)
async def list_reviews(
    request: Request,
    session: DbSession,
    actor: CurrentUser,
    page: PageParams,
    status_: Annotated[ReviewStatus | None, Query(alias="status")] = ReviewStatus.open,
) -> ReviewList:
    rows, total = await review_queue.list_reviews(session, actor=actor, page=page, status=status_)
    items = await review_queue.read_models(session, rows, actor=actor)
    return ReviewList.of(items, total=total, request=page, url=request)


@router.get(
    "/api/v1/certificate-reviews/{review_id}",
    response_model=ReviewRead,
    summary="One held certificate with its candidates (staff only)",
)
async def read_review(session: DbSession, actor: CurrentUser, review_id: ReviewId) -> ReviewRead:
    found = await review_queue.get_review(session, review_id, actor=actor)
    return (await review_queue.read_models(session, [found], actor=actor))[0]


@router.post(
    "/api/v1/certificate-reviews/{review_id}/resolve",
    response_model=ReviewRead,
    summary="The bureau attaches a held certificate to a candidate, or makes a new instrument",
)
async def resolve_review(
    session: DbSession,
    actor: Reviewer,
    config: CertificatesConfig,
    review_id: ReviewId,
    data: ReviewResolve,
) -> ReviewRead:
    resolved = await review_queue.resolve_review(
        session, review_id, data, actor=actor, settings=config
    )
    return (await review_queue.read_models(session, [resolved], actor=actor))[0]
