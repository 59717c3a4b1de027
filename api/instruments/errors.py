"""The registration domain's errors (rendered by portal/errors.py as problem+json)."""

from __future__ import annotations

from portal.errors import Conflict, Forbidden, InvalidInput, NotFound


class RegistrationNotFound(NotFound):
    code = "registration_not_found"
    title = "No registered instrument has this id"
    title_zh = "查无此登记器具"


class InvalidRegistration(InvalidInput):
    code = "registration_invalid"
    title = "The instrument's registration is not valid"
    title_zh = "器具登记内容不符合要求"


class RegistrationExists(Conflict):
    code = "registration_exists"
    title = "The owner already registered this instrument (serial, category, manufacturer)"
    title_zh = "本单位已登记过该器具（出厂编号、类别、制造单位相同）"


class RegistrationNotPending(Conflict):
    code = "registration_not_pending"
    title = "Only a registration awaiting review can be confirmed or rejected"
    title_zh = "只有待确认的登记可以确认或退回"


class RegistrationRetired(Conflict):
    code = "registration_retired"
    title = "The instrument was retired; register its replacement instead"
    title_zh = "该器具已注销，不能再变更"


class ApplicationNotFound(NotFound):
    code = "application_not_found"
    title = "No verification application has this id"
    title_zh = "查无此检定申请"


class InvalidApplication(InvalidInput):
    code = "application_invalid"
    title = "The verification application is not valid"
    title_zh = "检定申请内容不符合要求"


class ApplicationStateConflict(Conflict):
    code = "application_state_conflict"
    title = "The application is not in a state that allows this"
    title_zh = "检定申请当前状态不允许此操作"


class ApplicationResultsMissing(Conflict):
    code = "application_results_missing"
    title = "Some instruments have no certificate or failure notice since the application"
    title_zh = "还有器具没有出具检定证书或检定结果通知书，不能办结"


class NotAnOwner(Forbidden):
    code = "not_an_owner"
    title = "Only an instrument owner's staff may register instruments"
    title_zh = "只有使用单位的账号可以登记器具"


class UnsupportedRegistrationFile(InvalidInput):
    code = "registration_file_unsupported"
    title = "Unsupported registration file (CSV in UTF-8 or GB18030, or XLSX)"
    title_zh = "不支持的登记文件（请使用 UTF-8 或 GB18030 编码的 CSV，或 XLSX）"


class RegistrationFileTooLarge(InvalidInput):
    code = "registration_file_too_large"
    title = "The registration file exceeds a size limit"
    title_zh = "登记文件超出大小限制"
