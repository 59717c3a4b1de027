"""Settings of complaints and reports (``GONGZHI_*`` variables, names unchanged from the shell).

Statutory numbers follow SAMR Order 20 until Order 121 (in force 2026-04-15) is verified: change
them here, not in code. The rate limits are rule strings for the portal's shared limiter
(``portal/ratelimit.py``; its storage, ``GONGZHI_RATE_LIMIT_STORAGE``, stays with the shell).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends
from pydantic import Field, SecretStr, model_validator

from portal.deps import domain_settings
from portal.settings import DomainSettings


class ComplaintsSettings(DomainSettings):
    complaint_acceptance_working_days: int = Field(default=7, ge=1, le=60)  # from receipt
    complaint_mediation_working_days: int = Field(default=45, ge=1, le=365)  # from acceptance
    report_verification_working_days: int = Field(default=15, ge=1, le=365)  # from receipt
    report_extension_working_days: int = Field(default=15, ge=1, le=365)  # once, with approval
    # 投诉举报处理暂行办法 第二十一条: parties told of a terminated mediation within 7.
    mediation_termination_notice_working_days: int = Field(default=7, ge=1, le=60)
    # 投诉举报处理暂行办法 第三十一条: a real-name reporter is told of the 立案 decision within 5.
    report_filing_notice_working_days: int = Field(default=5, ge=1, le=60)
    # The articles the legal documents cite (documents.py), by document: the 暂行办法's text is the
    # one checked (../shared/corpus); set these to SAMR Order 121's articles once its text is.
    complaint_document_citations: dict[str, str] = {
        "acceptance_notice": "《市场监督管理投诉举报处理暂行办法》第十四条、第十六条",
        "rejection_notice": "《市场监督管理投诉举报处理暂行办法》第十五条",
        "mediation_termination": "《市场监督管理投诉举报处理暂行办法》第二十一条",
        "report_result": "《市场监督管理投诉举报处理暂行办法》第三十一条、"
        "《市场监督管理行政处罚程序规定》第十八条",
    }
    # A CJK font file for the documents; unset: Debian's fonts-noto-cjk (portal/cjk_fonts.py).
    complaint_document_font_file: Path | None = None
    # 投诉举报处理暂行办法 第三十条: bureaus disputing jurisdiction settle it within 7 working days,
    # else the common higher bureau designates the one that handles the case.
    jurisdiction_dispute_working_days: int = Field(default=7, ge=1, le=60)
    # Larger images are refused (decompression bombs).
    media_max_pixels: int = Field(default=110_000_000, ge=1)
    # What decoding one photo may allocate: an image that cannot be decoded (at reduced size where
    # the format allows) within it is refused with 413 image_too_large (issue 11 #13).
    media_decode_budget_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    media_url_ttl_seconds: int = 24 * 3600  # lifetime of signed photo links
    media_orphan_hours: int = Field(default=24, ge=1)  # unattached uploads are deleted after
    media_max_concurrent_decodes: int = Field(default=2, ge=1)  # per process: bounds memory
    case_rate_limit_client: str = "10/minute;60/hour"  # submissions per client address
    case_rate_limit_account: str = "5/minute;30/day"  # submissions per account
    media_rate_limit_client: str = "60/minute;600/hour"  # photo uploads per client address
    # Tries of a 查询码 per client address (API and 进度查询 page): bounds guessing, see
    # docs/reliability.md; a person who mistypes a few times is not stopped.
    track_rate_limit_client: str = "10/minute;100/hour;500/day"
    # How long a finished case keeps its submitter's name, phone, address, ID and e-mail: then a
    # daily job erases them (the case, its facts and its audit trail stay). PIPL 第十九条: no
    # longer than needed for the purpose; a bureau sets this to its own records schedule.
    complaint_personal_data_retention_days: int = Field(default=3 * 365, ge=30, le=3650)
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    similar_radius_m: int = Field(default=250, ge=1, le=5000)
    similar_window_days: int = Field(default=30, ge=1, le=365)
    open311_api_keys: str = ""  # comma-separated keys accepted by POST /open311/v2/requests
    open311_jurisdiction: str = ""  # jurisdiction_id clients must send, empty = single
    # "logging" or a gateway class "package.module:ClassName" (portal/notify.py).
    notify_sender: str = "logging"
    # Where photo files live (api/complaints/storage.py): "local", files under
    # GONGZHI_STORAGE_DIR/photos (the embedded default), or "s3", an S3-compatible object store
    # shared by every node (api/complaints/s3_storage.py; README, Photos).
    photo_storage: Literal["local", "s3"] = "local"
    photo_s3_endpoint_url: str = Field(default="", max_length=500)  # e.g. http://10.0.0.5:8333
    photo_s3_bucket: str = Field(default="", max_length=63)  # S3 bucket names are 3-63 characters
    photo_s3_prefix: str = Field(default="", max_length=200)  # key prefix, e.g. "gongzhi/"
    photo_s3_region: str = Field(default="us-east-1", max_length=50)
    photo_s3_access_key_id: str = Field(default="", max_length=200)
    photo_s3_secret_access_key: SecretStr = SecretStr("")
    # A store that does not answer within this is down: the upload gets 503 storage_unavailable
    # rather than waiting on a hung connection; no retries, the client retries the whole upload.
    photo_s3_timeout_seconds: float = Field(default=10, gt=0, le=120)
    # With s3: a derivative's signed link answers 307 to a URL presigned by the store (which then
    # serves the bytes, not the app) instead of the app streaming it. Needs an endpoint clients
    # can reach; originals stay app-served (authorisation and audit).
    photo_s3_presigned_redirect: bool = False

    @model_validator(mode="after")
    def _s3_complete(self) -> ComplaintsSettings:
        if self.photo_storage == "s3" and not (self.photo_s3_endpoint_url and self.photo_s3_bucket):
            raise ValueError(
                "GONGZHI_PHOTO_STORAGE=s3 needs GONGZHI_PHOTO_S3_ENDPOINT_URL and "
                "GONGZHI_PHOTO_S3_BUCKET"
            )
        return self


SETTINGS = ComplaintsSettings

ComplaintsConfig = Annotated[ComplaintsSettings, Depends(domain_settings(ComplaintsSettings))]
