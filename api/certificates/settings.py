"""Settings of the certificate registry (``GONGZHI_*`` variables, unchanged names): verification
cycles per catalogue category, the "expiring" window, lookup caching, import limits, institution
signing keys and overdue notifications."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends
from pydantic import Field

from portal.deps import domain_settings
from portal.settings import DomainSettings


class CertificatesSettings(DomainSettings):
    # Verification cycles in months per catalogue category code.
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
