"""Credit evaluation errors; each code is stable (apps and scripts depend on it)."""

from __future__ import annotations

from portal.errors import Conflict, Forbidden, InvalidInput, NotFound


class InvalidUscc(InvalidInput):
    code = "invalid_uscc"
    title = "Not a valid unified social credit code"
    title_zh = "统一社会信用代码无效"


class EnterpriseNotFound(NotFound):
    code = "enterprise_not_found"
    title = "Enterprise not found"
    title_zh = "企业不存在"


class NotAMember(Forbidden):
    code = "not_a_member"
    title = "Not a member of your association"
    title_zh = "该企业不是本协会会员"


class AlreadyAMember(Conflict):
    code = "already_a_member"
    title = "Already a member"
    title_zh = "该企业已是本协会会员"


class NotAnAssociation(Forbidden):
    code = "not_an_association"
    title = "Act for an industry association"
    title_zh = "须以行业协会身份操作"


class AssociationRequired(InvalidInput):
    code = "association_required"
    title = "Name the association to act for"
    title_zh = "请指定代为操作的行业协会"


class MethodologyNotFound(NotFound):
    code = "methodology_not_found"
    title = "Methodology not found"
    title_zh = "评价方法不存在"


class UnknownIndicator(InvalidInput):
    code = "unknown_indicator"
    title = "Not an indicator the association enters"
    title_zh = "不是由协会填报的指标"


class RunNotFound(NotFound):
    code = "run_not_found"
    title = "Evaluation batch not found"
    title_zh = "评价批次不存在"


class NoMembers(Conflict):
    code = "no_members"
    title = "The association has no members to evaluate"
    title_zh = "本协会暂无可评价的会员企业"


class RunState(Conflict):
    code = "run_state"
    title = "Not possible in the batch's current state"
    title_zh = "评价批次当前状态不允许此操作"


class NoticeClosed(Conflict):
    code = "notice_closed"
    title = "The public-notice period is over"
    title_zh = "公示期已结束"


class NoticeStillOpen(Conflict):
    code = "notice_still_open"
    title = "The public-notice period has not ended"
    title_zh = "公示期尚未结束"


class ObjectionsPending(Conflict):
    code = "objections_pending"
    title = "Objections are waiting for a decision"
    title_zh = "尚有异议未处理"


class ObjectionNotFound(NotFound):
    code = "objection_not_found"
    title = "Objection not found"
    title_zh = "异议不存在"


class ObjectionDecided(Conflict):
    code = "objection_decided"
    title = "The objection has already been decided"
    title_zh = "该异议已处理"


class NotInBatch(InvalidInput):
    code = "not_in_batch"
    title = "The enterprise is not in this batch"
    title_zh = "该企业不在本批次公示名单中"


class RatingNotFound(NotFound):
    code = "rating_not_found"
    title = "No current grade"
    title_zh = "该企业暂无有效信用等级"


class InvalidReview(InvalidInput):
    code = "invalid_review"
    title = "The review is not valid"
    title_zh = "复核内容不符合要求"


class DuplicateObjection(Conflict):
    code = "duplicate_objection"
    title = "This objection is already open"
    title_zh = "您对该企业的异议已在处理中"


class RegionNotRecognised(InvalidInput):
    code = "region_not_recognised"
    title = "No administrative division has that name or code"
    title_zh = "没有找到这个地区"
