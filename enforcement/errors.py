"""Errors of risk-based enforcement and 双随机 inspections; each code is stable."""

from __future__ import annotations

from portal.errors import Conflict, InvalidInput, NotFound


class SiteNotFound(NotFound):
    code = "site_not_found"
    title = "No such owner site"
    title_zh = "使用单位不存在"


class RiskScoreNotFound(NotFound):
    code = "risk_score_not_found"
    title = "This site has no risk score yet"
    title_zh = "该使用单位尚无风险评分"


class RiskModelNotFound(NotFound):
    code = "risk_model_not_found"
    title = "No such risk model version"
    title_zh = "风险模型版本不存在"


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    title = "No such inspection campaign"
    title_zh = "抽查任务不存在"


class AlreadyDrawn(Conflict):
    code = "campaign_already_drawn"
    title = "The campaign has been drawn already"
    title_zh = "该抽查任务已经抽取，不能重复抽取"


class TooFewCandidates(InvalidInput):
    code = "too_few_candidates"
    title = "Fewer candidate sites than the sample size"
    title_zh = "符合条件的检查对象少于抽取数量"


class TooManyCandidates(InvalidInput):
    code = "too_many_candidates"
    title = "More candidate sites than one campaign may list"
    title_zh = "符合条件的检查对象过多，请缩小范围"


class Understaffed(InvalidInput):
    code = "inspectors_insufficient"
    title = "Some candidate sites have too few inspectors without a conflict"
    title_zh = "部分检查对象可回避后的执法检查人员不足"


class DuplicateInspector(InvalidInput):
    code = "duplicate_inspector"
    title = "An inspector is listed twice"
    title_zh = "执法检查人员重复"


class TooManyInspectors(InvalidInput):
    code = "too_many_inspectors"
    title = "The inspector pool is too large"
    title_zh = "执法检查人员名单过长"


class InspectionNotFound(NotFound):
    code = "inspection_not_found"
    title = "No such inspection"
    title_zh = "检查任务不存在"


class InspectionRecorded(Conflict):
    code = "inspection_already_recorded"
    title = "This inspection's result has been recorded already"
    title_zh = "该检查结果已经提交，不能再次提交"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "The Idempotency-Key was used with another body"
    title_zh = "该幂等键已用于内容不同的提交"


class ChecksIncomplete(InvalidInput):
    code = "checks_incomplete"
    title = "Every registered instrument of the site needs exactly one check"
    title_zh = "须对该单位每台登记的计量器具各填写一份检查记录"


class PhotoNotFound(InvalidInput):
    code = "photo_not_found"
    title = "A photo is unknown, someone else's, or attached elsewhere"
    title_zh = "照片不存在、不是本人上传或已被其他记录使用"


class SignatoryMissing(InvalidInput):
    code = "signatory_missing"
    title = "A signed acknowledgement names who signed"
    title_zh = "被检查单位签字确认时须填写签字人"


class FollowUpNotFound(NotFound):
    code = "follow_up_not_found"
    title = "No such follow-up"
    title_zh = "后续处置事项不存在"


class FollowUpTransitionNotAllowed(Conflict):
    code = "follow_up_transition_not_allowed"
    title = "The follow-up's status does not allow this step"
    title_zh = "该后续处置事项当前状态不允许此操作"


class ReinspectionDateInvalid(InvalidInput):
    code = "reinspection_date_invalid"
    title = "The re-inspection date is before the order or after today"
    title_zh = "复查日期不能早于责令改正之日，也不能晚于今天"


class BadgeTaken(Conflict):
    code = "badge_taken"
    title = "The badge or the account is tied to another inspector already"
    title_zh = "该执法证号或账号已绑定其他执法人员"


class AccountNotFound(NotFound):
    code = "account_not_found"
    title = "No such regulator account"
    title_zh = "监管人员账号不存在"


class RegionRequired(InvalidInput):
    code = "region_required"
    title = "Choose a region"
    title_zh = "请指定行政区划"


class ExclusionNotFound(InvalidInput):
    code = "exclusion_not_found"
    title = "An excluded site is not an owner site (单位编号 or credit code unknown)"
    title_zh = "回避单位不存在（单位编号或统一社会信用代码无对应使用单位）"


class DistrictNotFound(InvalidInput):
    code = "district_not_found"
    title = "No district of that name in the region"
    title_zh = "辖区内没有该名称的区县"
