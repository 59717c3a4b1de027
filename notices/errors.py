"""Errors of enforcement notices (problem+json ``code`` values are stable)."""

from __future__ import annotations

from portal.errors import Conflict, InvalidInput, NotFound


class NoticeNotFound(NotFound):
    code = "notice_not_found"
    title = "No such enforcement notice"
    title_zh = "公示信息不存在或已停止公示"


class NoticeNotOnDisplay(Conflict):
    # The same code as the other documents' status conflicts (search/errors.py): clients handle
    # one code for "not possible in the current status".
    code = "invalid_status_transition"
    title = "Not possible in the document's current status"
    title_zh = "当前状态下不能进行此操作"


class DuplicateDecisionNumber(Conflict):
    code = "duplicate_decision_number"
    title = "A notice with this decision number exists"
    title_zh = "该行政处罚决定书文号已公示"


class InvalidDisplayPeriod(InvalidInput):
    code = "invalid_display_period"
    title = "The display period is not valid"
    title_zh = "公示期限不正确"


class WarningOnlyNotPublished(InvalidInput):
    code = "warning_only_not_published"
    title = "A penalty of a warning only is not published"
    title_zh = "仅受到警告行政处罚的不予公示"


class ListingWithoutCreditCode(InvalidInput):
    code = "listing_without_credit_code"
    title = "A listing in the serious dishonesty list names the party's credit code"
    title_zh = "列入严重违法失信名单须填写当事人的统一社会信用代码"
