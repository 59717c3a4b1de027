"""Typed settings, read from ``GONGZHI_*`` environment variables and an optional ``.env`` file.

``Settings`` holds the shell's own settings (database, secrets, HTTP, worker). Each domain keeps its
settings in its own ``settings.py`` as a ``DomainSettings`` subclass named by ``SETTINGS``; they
read the same ``GONGZHI_`` variables, so moving a setting into its domain changes no deployment.
Code reaches them with ``settings.of(ComplaintsSettings)`` (or the domain's dependency in
``portal/deps.py`` style). Statutory numbers live in the domains' settings with their citations.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "change-me-gongzhi-development-secret-key"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


_SOURCES = SettingsConfigDict(
    env_prefix="GONGZHI_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
)


class DomainSettings(BaseSettings):
    """Base of a domain's settings: the same variables and ``.env`` file as the shell's."""

    model_config = _SOURCES

    def check_production(self, shell: Settings) -> None:
        """Raise ``ValueError`` for a value that must not run in production."""


D = TypeVar("D", bound=DomainSettings)


class Settings(BaseSettings):
    model_config = _SOURCES
    _domains: dict[type[DomainSettings], DomainSettings] = PrivateAttr(default_factory=dict)

    env: Environment = Environment.development
    database_url: str = "sqlite+aiosqlite:///var/gongzhi.db"
    database_pool_size: int = 10
    storage_dir: Path = Path("var/storage")
    secret_key: str = DEFAULT_SECRET_KEY
    signing_key_file: Path = Path("var/signing-key.pem")
    base_url: str = "http://127.0.0.1:8000"
    keep_alive_seconds: int = 75  # longer than nginx's 60 s upstream keep-alive and apps' pools
    # Keys for personal data at rest: "<id>:<base64 32 bytes>,…", newest first (portal/crypto.py).
    data_keys: str = ""

    # Accounts
    jwt_lifetime_seconds: int = 3600
    cookie_lifetime_seconds: int = 8 * 3600

    # Abuse protection
    login_failures_per_account: str = "10/15 minutes"
    login_failures_per_ip: str = "50/15 minutes"
    # Origins allowed to call the API from a browser with credentials (comma-separated);
    # apps are not browsers and need no CORS.
    cors_origins: str = ""

    # Request limits: JSON bodies are small; multipart uploads carry phone photos.
    max_body_bytes: int = 1 * 1024 * 1024
    max_upload_bytes: int = 20 * 1024 * 1024

    # Background work
    run_worker_in_process: bool = True
    worker_poll_seconds: float = 1.0
    outbox_max_attempts: int = 12
    outbox_lease_seconds: int = Field(default=120, ge=1)  # a dead worker's job is retried after

    log_json: bool = Field(default=False, description="JSON log lines instead of console lines")

    # Shared by every domain's rate limits (portal/ratelimit.py).
    rate_limit_storage: str = "memory://"  # limits storage URI, e.g. redis://host:6379

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if self.env is Environment.production:
            if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError(
                    "GONGZHI_SECRET_KEY must be set to a random value of at least 32 characters "
                    "in production"
                )
            if not self.data_keys:
                raise ValueError("GONGZHI_DATA_KEYS must be set in production (portal/crypto.py)")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def of(self, kind: type[D]) -> D:
        """The settings of one domain, read from the environment the first time they are asked for."""
        found = self._domains.get(kind)
        if found is None:
            found = kind()
            self._domains[kind] = found
        return found  # type: ignore[return-value]  # keyed by its own class

    def check_domains(self) -> None:
        """Load every domain's settings now (a bad value fails at start, not on first use) and
        let each refuse what must not run in production."""
        from portal.domains import settings_classes

        for kind in settings_classes():
            domain = self.of(kind)
            if self.env is Environment.production:
                domain.check_production(self)

    @classmethod
    def build(cls, **values: Any) -> Settings:
        """Settings from explicit values (tests, tools): each value goes to the shell or to the
        domain that declares it; a name nobody declares is an error, not silently ignored."""
        from portal.domains import settings_classes

        shell = {k: v for k, v in values.items() if k in cls.model_fields}
        rest = {k: v for k, v in values.items() if k not in cls.model_fields}
        settings = cls(**shell)
        for kind in settings_classes():
            mine = {k: rest.pop(k) for k in list(rest) if k in kind.model_fields}
            settings._domains[kind] = kind(**mine)
        if rest:
            raise TypeError(f"unknown settings: {sorted(rest)}")
        return settings


@lru_cache
def get_settings() -> Settings:
    return Settings()
