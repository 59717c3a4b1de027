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

    log_json: bool = Field(default=False, description="JSON log lines instead of console lines")

    # Certificates (api/certificates): verification cycles in months per catalogue category code,
    # the "expiring" window, institution signing keys, imports, lookup caching, notifications.
    verification_cycle_months: dict[str, int] = Field(
        default_factory=lambda: {
            "scale-pc": 12,  # 电子计价秤, JJG 539-2016
            "scale-platform": 12,  # 电子台案秤, JJG 539-2016
            "scale-truck": 12,  # 电子汽车衡, JJG 539-2016
            "fuel-dispenser": 6,  # 燃油加油机, JJG 443-2023
            "gas-dispenser": 6,  # 压缩天然气加气机, JJG 996-2012
            "taximeter": 12,  # 出租汽车计价器, JJG 517-2016
            "sphygmomanometer": 12,  # 血压计, JJG 270-2008 / JJG 692-2010
            "electricity-meter": 96,  # 电能表, JJG 596-2012 (first verification, rotation)
            "water-meter": 72,  # 水表, JJG 162-2019 (first verification, DN ≤ 50 service life)
            "gas-meter": 120,  # 燃气表, JJG 577-2012 (first verification, service life)
            "lensmeter": 12,  # 眼镜片顶焦度计, JJG 580-2005
            "syringe-pump": 12,  # 医用注射泵, JJF 1259-2018
            "speed-radar": 12,  # 机动车测速仪, JJG 527-2015
        }
    )
    default_verification_cycle_months: int = 12
    certificate_expiring_days: int = 30
    certificate_lookup_max_age: int = 60
    certificate_import_batch_size: int = 2000
    certificate_import_max_errors: int = 10000
    signing_keys_dir: Path = Path("var/keys")
    overdue_notification_sender: str = "logging"
    overdue_notification_batch: int = 500

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
