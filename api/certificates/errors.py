from __future__ import annotations

from portal.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceUnavailable


class CertificateNotFound(NotFound):
    code = "certificate_not_found"
    title = "No certificate has this number"
    title_zh = "查无此证"


class InstrumentNotFound(NotFound):
    code = "instrument_not_found"
    title = "No instrument has this sticker token"
    title_zh = "查无此器具"


class AmbiguousCertificateNumber(Conflict):
    code = "certificate_number_ambiguous"
    title = "Several institutions issued this number; name the institution"
    title_zh = "多个检定机构使用了该证书编号，请指定检定机构"


class CertificateNumberTaken(Conflict):
    code = "certificate_number_taken"
    title = "This number was already issued with different content"
    title_zh = "该证书编号已用于其他内容，如需更正请出具更正证书"


class CertificateNumberInUse(Conflict):
    code = "certificate_number_in_use"
    title = "Another institution already issued this number"
    title_zh = "该证书编号已由其他检定机构使用"


class ImportTooLarge(InvalidInput):
    code = "import_file_too_large"
    title = "The import file exceeds a size limit (cell, row or sheet)"
    title_zh = "导入文件超出大小限制（单元格、行或工作表）"


class CertificateAlreadyRevoked(Conflict):
    code = "certificate_already_revoked"
    title = "The certificate is already revoked"
    title_zh = "证书已注销"


class CertificateSuperseded(Conflict):
    code = "certificate_superseded"
    title = "The certificate was superseded by a correction"
    title_zh = "证书已被更正证书取代"


class InvalidCertificate(InvalidInput):
    code = "certificate_invalid"
    title = "The certificate data is not valid"
    title_zh = "证书内容不符合要求"


class UnsupportedImportFile(InvalidInput):
    code = "import_file_unsupported"
    title = "Unsupported import file"
    title_zh = "不支持的导入文件"


class NotAnInstitution(Forbidden):
    code = "not_an_institution"
    title = "Only a verification institution may do this"
    title_zh = "仅检定机构可执行此操作"


class LabelFontMissing(ServiceUnavailable):
    code = "label_font_missing"
    title = "No CJK font is installed for PDF labels (Debian package fonts-noto-cjk)"
    title_zh = "服务器未安装中文字体，暂时无法生成 PDF 标签"


class LabelsDoNotFit(InvalidInput):
    code = "labels_do_not_fit"
    title = "That many labels from that position do not fit on one A4 sheet"
    title_zh = "标签数量超出一张 A4 标签纸"


class OutsideAuthorisedScope(InvalidInput):
    code = "certificate_outside_scope"
    title = "The institution's authorisation does not cover this category, region or date"
    title_zh = "检定机构的授权范围（项目、区域、有效期）不包括该证书"


class AuthorisationNotFound(NotFound):
    code = "authorisation_not_found"
    title = "No authorisation has this id"
    title_zh = "查无此授权证书"


class InvalidAuthorisation(InvalidInput):
    code = "authorisation_invalid"
    title = "The authorisation is not valid"
    title_zh = "授权证书内容不符合要求"


class AuthorisationExists(Conflict):
    code = "authorisation_exists"
    title = "The institution already has an authorisation with this number"
    title_zh = "该检定机构已登记过此编号的授权证书"


class AuthorisationRevoked(Conflict):
    code = "authorisation_revoked"
    title = "The authorisation was already revoked"
    title_zh = "该授权证书已撤销"


class ReviewNotFound(NotFound):
    code = "certificate_review_not_found"
    title = "No held certificate has this id"
    title_zh = "查无此待核对证书"


class ReviewResolved(Conflict):
    code = "certificate_review_resolved"
    title = "The held certificate was already resolved"
    title_zh = "该待核对证书已处理"


class InvalidResolution(InvalidInput):
    code = "certificate_review_invalid"
    title = "The resolution names no candidate of this held certificate"
    title_zh = "处理方式不正确：请选择候选器具之一，或新建器具"


class CorrectionHeld(Conflict):
    code = "certificate_correction_held"
    title = (
        "The corrected certificate's registered instrument is ambiguous; issue it as a new "
        "certificate (held for the bureau) and revoke the old one"
    )
    title_zh = (
        "更正证书对应的已登记器具不能唯一确定：请作为新证书出具（由市场监管部门核对），并注销原证书"
    )
