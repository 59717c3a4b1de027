"""Typed settings, read from ``GONGZHI_*`` environment variables and an optional ``.env`` file.

Statutory numbers live here too (with documented defaults) because the rules change: the complaint
rules were replaced on 2026-04-15 and nobody should need a code change for the next revision.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "change-me-gongzhi-development-secret-key"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GONGZHI_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Environment.development
    database_url: str = "sqlite+aiosqlite:///var/gongzhi.db"
    database_pool_size: int = 10
    search_backend: Literal["embedded", "meilisearch"] = "embedded"
    meili_url: str = "http://127.0.0.1:7700"
    meili_key: str = ""
    storage_dir: Path = Path("var/storage")
    secret_key: str = DEFAULT_SECRET_KEY
    signing_key_file: Path = Path("var/signing-key.pem")
    base_url: str = "http://127.0.0.1:8000"

    # Accounts
    jwt_lifetime_seconds: int = 3600
    cookie_lifetime_seconds: int = 8 * 3600

    # Request limits: JSON bodies are small; multipart uploads carry phone photos.
    max_body_bytes: int = 1 * 1024 * 1024
    max_upload_bytes: int = 20 * 1024 * 1024

    # Background work
    run_worker_in_process: bool = True
    worker_poll_seconds: float = 1.0
    outbox_max_attempts: int = 12

    # Credit evaluation (credit/): 公示 window, validity of a published grade, objection rate limit
    credit_notice_working_days: int = Field(default=5, ge=0, le=60)
    credit_validity_years: int = Field(default=3, ge=1, le=10)
    credit_objection_rate: str = "5/hour"
    credit_rate_limit_storage: str = "memory://"
    credit_serious_penalty_points: int = Field(default=3, ge=1)

    log_json: bool = Field(default=False, description="JSON log lines instead of console lines")

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if self.env is Environment.production:
            if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError(
                    "GONGZHI_SECRET_KEY must be set to a random value of at least 32 characters "
                    "in production"
                )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
