"""Fixtures of the enforcement tests: an owner in 秦都区 (tests/api/instruments/support.py) and
two scored sites with the bureau that sees both (support.py)."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from portal.accounts.models import User
from tests.api.instruments.support import owner_user  # noqa: F401
from tests.enforcement.support import Headers, Sites, scored_sites


@pytest.fixture
async def sites(
    client: httpx.AsyncClient,
    owner_user: User,  # noqa: F811
    make_user: Callable[..., Awaitable[User]],
    make_org: Callable[..., Awaitable[Any]],
    auth_headers: Headers,
) -> Sites:
    return await scored_sites(client, owner_user, make_user, make_org, auth_headers)
