"""Settings of the certificate registry (``GONGZHI_*`` variables, unchanged names): overrides of
the catalogue's verification cycles, the "expiring" window, lookup caching, import limits, institution
signing keys and overdue notifications."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends
from pydantic import Field

from portal.deps import domain_settings
from portal.settings import DomainSettings


class CertificatesSettings(DomainSettings):
    # The cycles come from the catalogue's data file (api/certificates/catalogue_2020.json, each
    # entry's JJG regulation in force; 公告2020年第42号 item 5: the cycle is the regulation's).
    # This maps a category code to months that replace it, for a province whose regulator sets
    # a shorter one; empty by default.
    verification_cycle_months: dict[str, int] = Field(default_factory=dict)
    # The validity given to a certificate of a category with no cycle (失准报废), when its row
    # names none: the public lookup reads a certificate without a validity as failed.
    default_verification_cycle_months: int = Field(default=12, ge=1, le=240)
    certificate_expiring_days: int = Field(default=30, ge=0, le=366)
    certificate_lookup_max_age: int = Field(default=60, ge=0, le=86400)
    certificate_import_batch_size: int = Field(default=2000, ge=1, le=50_000)
    certificate_import_max_errors: int = Field(default=10000, ge=1, le=1_000_000)
    # Import limits (issue 11 #14): a file is refused early, with a problem code, before a cell,
    # a row or a sheet can take the server's memory.
    certificate_import_max_cell_chars: int = Field(default=2000, ge=100, le=100_000)
    certificate_import_max_row_chars: int = Field(default=20_000, ge=1000, le=1_000_000)
    certificate_import_max_rows: int = Field(default=500_000, ge=1, le=10_000_000)
    certificate_import_max_columns: int = Field(default=64, ge=20, le=1000)
    # Each XML part of an XLSX (a sheet, the shared strings), uncompressed.
    certificate_import_max_xml_bytes: int = Field(default=128 * 1024 * 1024, ge=1024 * 1024)
    signing_keys_dir: Path = Path("var/keys")
    # The CJK font embedded in PDF labels; unset: Debian's fonts-noto-cjk (api/certificates/labels.py)
    certificate_label_font_file: Path | None = None
    # 授权证书 (api/certificates/scope.py): an institution with an authorisation recorded issues
    # only within it, from the day the first one is recorded. True: also an institution with none
    # recorded issues nothing (once every designated institution's certificates are entered).
    # False by default so that a bureau can record them one institution at a time.
    require_institution_scope: bool = False
    overdue_notification_sender: str = "logging"
    overdue_notification_batch: int = Field(default=500, ge=1, le=100_000)

    def import_limits(self) -> ImportLimits:
        from api.certificates.import_limits import ImportLimits

        return ImportLimits(
            max_cell_chars=self.certificate_import_max_cell_chars,
            max_row_chars=self.certificate_import_max_row_chars,
            max_rows=self.certificate_import_max_rows,
            max_columns=self.certificate_import_max_columns,
            max_xml_bytes=self.certificate_import_max_xml_bytes,
        )


if TYPE_CHECKING:
    from api.certificates.import_limits import ImportLimits

SETTINGS = CertificatesSettings

CertificatesConfig = Annotated[CertificatesSettings, Depends(domain_settings(CertificatesSettings))]
