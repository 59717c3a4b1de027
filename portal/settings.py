"""Typed settings, read from ``GONGZHI_*`` environment variables and an optional ``.env`` file.

``Settings`` holds the shell's own settings (database, secrets, HTTP, worker). Each domain keeps its
settings in its own ``settings.py`` as a ``DomainSettings`` subclass named by ``SETTINGS``; they
read the same ``GONGZHI_`` variables, so moving a setting into its domain changes no deployment.
Code reaches them with ``settings.of(ComplaintsSettings)`` (or the domain's dependency in
``portal/deps.py`` style). Statutory numbers live in the domains' settings with their citations.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "change-me-gongzhi-development-secret-key"

# A production secret must need at least 10^30 (about 2^100) guesses by zxcvbn's estimate, which
# models what attackers try first: repeats ("aaaa…"), sequences, keyboard runs, dictionary words
# and dates. Length alone says nothing (36 × "a" is 36 characters and about 10^3 guesses); 16
# random bytes in hex (128 bits) estimate at about 10^31, `secrets.token_urlsafe(32)` at 10^43.
MIN_SECRET_GUESSES_LOG10 = 30.0


def secret_is_guessable(secret: str) -> bool:
    from zxcvbn import zxcvbn

    # zxcvbn takes at most 72 characters; past that, a secret's prefix decides.
    estimate: float = zxcvbn(secret[:72])["guesses_log10"]
    return estimate < MIN_SECRET_GUESSES_LOG10


@lru_cache(maxsize=16)
def trusted_networks(
    spec: str,
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``GONGZHI_TRUSTED_PROXIES`` parsed: comma-separated addresses or CIDR networks."""
    networks = []
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(
                f"GONGZHI_TRUSTED_PROXIES: {entry!r} is not an address or network"
            ) from exc
    return tuple(networks)


def _database_name(url: str) -> str:
    """The database's name in ``url`` (PostgreSQL) or its file's stem (SQLite), for key prefixes."""
    path = url.split("?", 1)[0].rsplit("/", 1)[-1]
    name = path.rsplit(".", 1)[0] if url.startswith("sqlite") else path
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60] or "default"


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
    # A streaming read replica for anonymous public reads (certificate lookup, sticker page);
    # empty = none. Writes and read-your-writes flows always use database_url.
    database_replica_url: str = ""
    # Past this replay lag the public reads go to the primary, so a revocation on the primary is
    # never shown as still valid for longer than this.
    database_replica_max_lag_seconds: float = Field(default=5.0, ge=0, le=3600)
    storage_dir: Path = Path("var/storage")
    secret_key: str = DEFAULT_SECRET_KEY
    signing_key_file: Path = Path("var/signing-key.pem")
    base_url: str = "http://127.0.0.1:8000"
    keep_alive_seconds: int = 75  # longer than nginx's 60 s upstream keep-alive and apps' pools
    # How long an anonymous public answer is kept (portal/pagecache.py); 0: not at all.
    page_cache_seconds: float = Field(default=5, ge=0, le=60)
    # Where cached answers live (portal/cache.py): memory:// (this process; embedded mode,
    # development, tests) or redis://… shared by every process and node. Empty: memory:// outside
    # production; in production the rate limiter's Redis when it is one, else memory://, which
    # production refuses unless ``single_process`` (a write on one node must reach the others).
    cache_url: str = Field(default="", max_length=500)
    # What every cache and rate-limit key in Redis starts with, so deployments sharing one Redis
    # never see each other's entries. Empty: "gongzhi:" + the database's name.
    cache_prefix: str = Field(default="", max_length=100, pattern=r"^[A-Za-z0-9_.:-]*$")
    # Keys for personal data at rest: "<id>:<base64 32 bytes>,…", newest first (portal/crypto.py).
    data_keys: str = ""

    # Accounts
    jwt_lifetime_seconds: int = 3600
    cookie_lifetime_seconds: int = 8 * 3600

    # Abuse protection (portal/accounts/throttle.py). Password guessing is refused per client and
    # account (a client that failed this often for one account is refused for that account only),
    # per client overall, and slowed, never locked, per account: past ``login_failures_per_account``
    # failures from all clients in the window, every attempt on the account waits
    # base × 2^(failures over the limit) seconds, at most ``login_delay_max_seconds``. So nobody can
    # lock another person's account; the owner at worst waits a few seconds.
    login_failures_per_client_account: str = "10/15 minutes"
    login_failures_per_ip: str = "50/15 minutes"
    login_failures_per_account: str = "10/15 minutes"
    login_delay_base_seconds: float = Field(default=0.5, ge=0, le=5)
    login_delay_max_seconds: float = Field(default=8.0, ge=0, le=30)
    # Self-registrations (accounts created, or refused because the address has one) from one
    # client address; a school or office behind one NAT registers a class in an hour or two.
    registrations_per_ip: str = "30/hour"
    # Counters of every rate limit: a store that all server processes share. Empty: memory://
    # in development and tests (one process), redis://127.0.0.1:6379 in production. `gongzhi
    # serve --workers N` refuses memory:// (each process would count on its own), and so does
    # production unless ``single_process`` says this is the deployment's only server process: a
    # process cannot see how many nodes or uvicorn/gunicorn workers run beside it.
    rate_limit_storage: str = ""
    # The operator's statement that this process is the only one serving the deployment (one
    # node, one worker), the one case where per-process counters (memory://) count every request.
    single_process: bool = False
    # Reverse proxies whose X-Forwarded-For is believed (comma-separated addresses or networks,
    # e.g. "127.0.0.1,10.0.0.0/8"). Empty: no header is believed and the client is the peer
    # address. Given to uvicorn by `gongzhi serve` and applied by portal.ratelimit.client_ip.
    trusted_proxies: str = ""
    # /docs, /redoc and /openapi.json. Unset: public except in production, where the published
    # document is a map for attackers and apps ship with their generated client.
    api_docs: bool | None = None
    # Origins allowed to call the API from a browser with credentials (comma-separated);
    # apps are not browsers and need no CORS.
    cors_origins: str = ""
    # A map tile source, "https://tiles.example/{z}/{x}/{y}.png" (or a path on this site), for
    # pages that show a place on a map (the complaint form's photo location); its origin is
    # added to the CSP's img-src. Empty (the default): no map, coordinates only, since no tile
    # server can be assumed. GONGZHI_MAP_ATTRIBUTION is the credit the tile source requires.
    map_tile_url: str = Field(
        default="", max_length=500, pattern=r"^$|^(https?://[^/?#\s]+)?/[^\s]*\{z\}[^\s]*$"
    )
    map_attribution: str = Field(default="", max_length=200)

    # Request limits: JSON bodies are small; multipart uploads carry phone photos.
    max_body_bytes: int = 1 * 1024 * 1024
    max_upload_bytes: int = 20 * 1024 * 1024

    @property
    def map_tile_origin(self) -> str | None:
        """The origin of the map tiles when they come from another site (for the CSP)."""
        match = re.match(r"^(https?://[^/?#]+)/", self.map_tile_url)
        return match.group(1) if match else None

    # Background work
    run_worker_in_process: bool = True
    worker_poll_seconds: float = 1.0
    outbox_max_attempts: int = 12
    outbox_lease_seconds: int = Field(default=120, ge=1)  # a dead worker's job is retried after

    log_json: bool = Field(default=False, description="JSON log lines instead of console lines")
    # The bearer token a Prometheus scrape of /metrics sends (portal/metrics.py). Empty: /metrics
    # does not exist (404). In production it must be as strong as the secret key.
    metrics_token: str = Field(default="", max_length=200)
    # OpenTelemetry traces (portal/tracing.py), off by default: then nothing of OpenTelemetry is
    # imported and requests are served as without it. On: a server span per request, named by
    # the route template, with its trace and span ids in every log line of the request and the
    # trace id in the X-Trace-ID response header.
    otel_enabled: bool = False
    otel_service_name: str = Field(default="gongzhi", min_length=1, max_length=100)
    # Where spans go: the base URL of an OTLP/HTTP collector ("http://collector:4318"; the
    # exporter adds /v1/traces). Empty: OpenTelemetry's own OTEL_EXPORTER_OTLP_ENDPOINT or
    # OTEL_EXPORTER_OTLP_TRACES_ENDPOINT if set, else spans are exported nowhere.
    otel_exporter_otlp_endpoint: str = Field(
        default="", max_length=500, pattern=r"^$|^https?://[^/?#\s]+(/[^?#\s]*)?$"
    )
    # The share of new traces recorded and exported (0–1); a trace continued from a trusted
    # proxy's traceparent follows the proxy's decision. Unsampled requests still get ids.
    otel_sample_ratio: float = Field(default=1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if self.env is Environment.production:
            if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError(
                    "GONGZHI_SECRET_KEY must be set to a random value of at least 32 characters "
                    "in production"
                )
            if secret_is_guessable(self.secret_key):
                raise ValueError(
                    "GONGZHI_SECRET_KEY is guessable (repeated, sequential or dictionary text); "
                    "use a random value, e.g. `python -c 'import secrets; "
                    "print(secrets.token_urlsafe(32))'`"
                )
            if not self.data_keys:
                raise ValueError("GONGZHI_DATA_KEYS must be set in production (portal/crypto.py)")
            if self.metrics_token and (
                len(self.metrics_token) < 32 or secret_is_guessable(self.metrics_token)
            ):
                raise ValueError(
                    "GONGZHI_METRICS_TOKEN is short or guessable; use a random value of at least "
                    "32 characters, or leave it empty to serve no /metrics"
                )
        return self

    @model_validator(mode="after")
    def _resolve_environment_defaults(self) -> Settings:
        production = self.env is Environment.production
        if not self.rate_limit_storage:
            self.rate_limit_storage = "redis://127.0.0.1:6379" if production else "memory://"
        if not self.cache_url:
            shared = self.rate_limit_storage.removeprefix("async+")
            self.cache_url = (
                shared
                if production and shared.startswith(("redis://", "rediss://"))
                else "memory://"
            )
        if not self.cache_url.startswith(("memory://", "redis://", "rediss://", "unix://")):
            raise ValueError(f"GONGZHI_CACHE_URL={self.cache_url}: use memory:// or redis://…")
        if not self.cache_prefix:
            self.cache_prefix = "gongzhi:" + _database_name(self.database_url)
        if self.api_docs is None:
            self.api_docs = not production
        if production and not self.shares_rate_limits and not self.single_process:
            raise ValueError(
                f"GONGZHI_RATE_LIMIT_STORAGE={self.rate_limit_storage} keeps rate-limit counters "
                "in each process: with a second worker or node every limit would be multiplied. "
                "In production use a shared store (redis://…), or set GONGZHI_SINGLE_PROCESS=true "
                "if this is the deployment's only server process"
            )
        if production and not self.shares_cache and not self.single_process:
            raise ValueError(
                f"GONGZHI_CACHE_URL={self.cache_url} keeps cached pages in each process: with a "
                "second worker or node, a page one node invalidated would still be served by "
                "another. In production use Redis (GONGZHI_CACHE_URL=redis://…), or set "
                "GONGZHI_SINGLE_PROCESS=true if this is the deployment's only server process"
            )
        trusted_networks(self.trusted_proxies)  # a typo fails at start, not on the first request
        return self

    @property
    def shares_rate_limits(self) -> bool:
        """Whether the rate-limit counters are seen by every server process."""
        return not self.rate_limit_storage.startswith(("memory", "async+memory"))

    @property
    def shares_cache(self) -> bool:
        """Whether cached answers are seen, and invalidated, by every server process."""
        return not self.cache_url.startswith("memory://")

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
