"""Production refuses what is only for development (issue 11, finding 17): public API docs,
demo data with its published password, and secrets that can be guessed whatever their length."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import ValidationError

from portal.app import create_app
from portal.settings import Settings
from tests.support import GONGZHI, make_settings

STRONG_SECRET = "KQB-ypy0Jas2-uTScdfmiLrG4TdQXuh1GolnQLeLFUI"
DATA_KEYS = "k1:" + base64.b64encode(bytes(range(32))).decode()


def production(**extra: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "production",
        "secret_key": STRONG_SECRET,
        "data_keys": DATA_KEYS,
        **extra,
    }
    return Settings(**values)


@pytest.mark.parametrize(
    "secret",
    [
        "a" * 36,  # the reported one: long, and about 10^3 guesses
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "passwordpasswordpasswordpassword1234",
        "change-me-gongzhi-development-secret-key",
    ],
)
def test_guessable_secrets_are_refused_in_production(secret: str) -> None:
    with pytest.raises(ValidationError, match="GONGZHI_SECRET_KEY"):
        production(secret_key=secret)


def test_random_secrets_are_accepted_in_production() -> None:
    for secret in (STRONG_SECRET, secrets.token_urlsafe(32), secrets.token_hex(32)):
        assert production(secret_key=secret).secret_key == secret
    assert Settings(env="development", secret_key="a" * 36)  # development does not care


def test_api_docs_are_off_in_production_unless_switched_on() -> None:
    assert production().api_docs is False
    assert production(api_docs=True).api_docs is True
    assert Settings(env="development").api_docs is True


async def test_a_production_app_publishes_no_api_docs(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}",
        tmp_path,
        env="production",
        secret_key=STRONG_SECRET,
        data_keys=DATA_KEYS,
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            for path in ("/docs", "/redoc", "/openapi.json"):
                assert (await c.get(path)).status_code == 404, path
    assert app.openapi()["paths"]  # the document still exists for the fuzzer and SDK builds


def test_demo_data_is_refused_in_production(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GONGZHI_ENV": "production",
        "GONGZHI_SECRET_KEY": STRONG_SECRET,
        "GONGZHI_DATA_KEYS": DATA_KEYS,
        "GONGZHI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}",
        "GONGZHI_STORAGE_DIR": str(tmp_path / "storage"),
    }
    env.pop("GONGZHI_TEST_NOW", None)  # the test clock is itself refused in production
    result = subprocess.run(
        [GONGZHI, "demo"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 2, result.stderr
    assert "demo data is refused in production" in result.stderr
    assert not (tmp_path / "prod.db").exists() or (tmp_path / "prod.db").stat().st_size == 0
