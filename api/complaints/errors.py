"""Errors of the complaint domain; each code is published and stable."""

from __future__ import annotations

from portal.errors import (
    Conflict,
    Forbidden,
    GongzhiError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
)


class UnsupportedMediaType(GongzhiError):
    status = 415
    code = "unsupported_media_type"
    title = "Only JPEG, PNG, WebP and HEIC/HEIF photos are accepted"
    title_zh = "仅支持 JPEG、PNG、WebP 和 HEIC/HEIF 格式的照片"


class ImageTooLarge(InvalidInput):
    code = "image_too_large"
    title = "The image has too many pixels"
    title_zh = "图片像素过多"


class ImageUnreadable(InvalidInput):
    code = "image_unreadable"
    title = "The image could not be read; it may be truncated or damaged"
    title_zh = "图片无法读取，可能已损坏或不完整"


class UploadTooLarge(PayloadTooLarge):
    code = "payload_too_large"


class MissingFile(InvalidInput):
    code = "file_required"
    title = "Send the photo as the multipart field 'file'"
    title_zh = "请以 multipart 字段 file 上传照片"


class MalformedMultipart(GongzhiError):
    status = 400
    code = "malformed_multipart"
    title = "The multipart body could not be parsed"
    title_zh = "无法解析 multipart 请求内容"


class MediaNotFound(NotFound):
    code = "media_not_found"
    title = "No such photo"
    title_zh = "照片不存在"


class MediaUnavailable(InvalidInput):
    code = "media_unavailable"
    title = "A photo is unknown or already attached to another case"
    title_zh = "照片不存在或已用于其他案件"


class LinkExpired(GongzhiError):
    status = 403
    code = "link_invalid"
    title = "The link is invalid or has expired"
    title_zh = "链接无效或已过期"


class CaseNotFound(NotFound):
    code = "case_not_found"
    title = "No case with this tracking number and token"
    title_zh = "未找到该案件，请核对受理编号和查询码"


class CaseNotYours(Forbidden):
    code = "case_not_yours"
    title = "This case was not filed from your account; follow it with its access code"
    title_zh = "这件案件不是用您的账号提交的，请用受理编号和查询码查询"


class UnknownCategory(InvalidInput):
    code = "unknown_category"
    title = "Unknown category"
    title_zh = "投诉举报类别不存在"


class InvalidCaseFields(InvalidInput):
    code = "case_fields_invalid"
    title = "Some fields are missing or not valid for this kind of case"
    title_zh = "案件信息不完整或不符合要求"


class RegionRequired(InvalidInput):
    code = "region_required"
    title = "The region could not be determined; give region_code or a fuller address"
    title_zh = "无法确定所属区域，请填写行政区划或更完整的地址"


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used with a different request body"
    title_zh = "该幂等键已用于内容不同的提交"


class IllegalTransition(Conflict):
    code = "illegal_transition"
    title = "This action is not allowed in the case's current state"
    title_zh = "案件当前状态下不能执行该操作"


class CaseChangedMeanwhile(Conflict):
    code = "case_changed_meanwhile"
    title = "The case was changed by someone else meanwhile; reload it and try again"
    title_zh = "案件刚被他人办理过，请刷新后再操作"


class InvalidAction(InvalidInput):
    code = "case_action_invalid"
    title = "The action is missing required information"
    title_zh = "操作缺少必要信息"


class StorageFull(GongzhiError):
    status = 507
    code = "storage_full"
    title = "The photo store is full; try again later"
    title_zh = "照片存储空间已满，请稍后再试"


class StorageUnavailable(GongzhiError):
    status = 503
    code = "storage_unavailable"
    title = "The photo store cannot be written to; try again later"
    title_zh = "照片存储暂时不可写入，请稍后再试"


def storage_error(exc: OSError, *, reading: bool = False) -> GongzhiError:
    """The problem for a failed write to (or read from) the photo store: disk full, quota,
    read-only, an object store that is down, ..."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) and not reading:
        return StorageFull(f"The photo store is full ({exc.strerror}).")
    if reading:
        return StorageUnavailable(
            f"The photo store cannot be read ({exc.strerror}).",
            detail_zh="照片存储暂时无法读取，请稍后再试。",
        )
    return StorageUnavailable(f"The photo store cannot be written to ({exc.strerror}).")


class FeedbackNotOpen(Conflict):
    code = "feedback_not_open"
    title = "A case is rated once it is concluded or closed"
    title_zh = "案件办结后才能评价"


class FeedbackAlreadyGiven(Conflict):
    code = "feedback_already_given"
    title = "This case has been rated already"
    title_zh = "您已评价过该案件"


class DocumentNotFound(NotFound):
    code = "case_document_not_found"
    title = "The case has no such document"
    title_zh = "该案件没有这份文书"


class DocumentNotForYou(Forbidden):
    code = "case_document_forbidden"
    title = "A case's documents are for its submitter and its handling regulator only"
    title_zh = "案件文书仅限投诉举报人本人和承办地区的监管人员下载"


class DocumentFontMissing(ServiceUnavailable):
    code = "document_font_missing"
    title = "No CJK font is installed for PDF documents (Debian package fonts-noto-cjk)"
    title_zh = "服务器未安装中文字体，暂时无法生成 PDF 文书"
