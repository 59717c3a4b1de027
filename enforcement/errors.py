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
