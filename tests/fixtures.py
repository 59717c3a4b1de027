"""Fixtures more than one test package uses (imported by those packages' conftests)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI


@pytest.fixture(autouse=True)
async def fresh_limits(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Rate limits count per client address; every database test starts with a clean slate."""
    if "app" not in request.fixturenames:
        yield
        return
    app: FastAPI = request.getfixturevalue("app")
    await app.state.rate_limiter.reset()
    yield
    await app.state.rate_limiter.reset()
