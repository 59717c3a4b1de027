"""Settings of the owners' registrations (``GONGZHI_*`` variables)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic import Field

from portal.deps import domain_settings
from portal.settings import DomainSettings


class InstrumentsSettings(DomainSettings):
    # Bulk registration files: a market or a utility registers hundreds to tens of thousands of
    # meters at once; beyond these a file is refused before it is read.
    registration_import_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=512 * 1024**2)
    registration_import_max_rows: int = Field(default=50_000, ge=1, le=1_000_000)
    registration_import_max_errors: int = Field(default=1000, ge=1, le=100_000)
    # The time from an application to its results, in days, that the institution commits to:
    # no national number was found; set it to the local service commitment (承诺时限).
    application_result_days: int = Field(default=20, ge=1, le=365)
    application_max_instruments: int = Field(default=500, ge=1, le=10_000)
    # Owners are reminded this many days before an instrument falls due (a verification due, a
    # life ending) when the registry cannot remind them (no certificate of it there yet).
    registration_reminder_days: int = Field(default=30, ge=1, le=180)
    registration_reminder_sender: str = "logging"
    registration_reminder_batch: int = Field(default=500, ge=1, le=100_000)


SETTINGS = InstrumentsSettings

InstrumentsConfig = Annotated[InstrumentsSettings, Depends(domain_settings(InstrumentsSettings))]
