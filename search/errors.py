"""Errors of the search domain (problem+json ``code`` values are stable)."""

from __future__ import annotations

from portal.errors import Conflict, NotFound


class ArticleNotFound(NotFound):
    code = "article_not_found"
    title = "No such article"
    title_zh = "文章不存在或未发布"


class RegulationNotFound(NotFound):
    code = "regulation_not_found"
    title = "No such regulation"
    title_zh = "法规不存在"


class InvalidTransition(Conflict):
    code = "invalid_status_transition"
    title = "Not possible in the document's current status"
    title_zh = "当前状态下不能进行此操作"
