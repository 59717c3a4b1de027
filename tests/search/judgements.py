"""A judged query set over the regulations corpus (../shared/corpus/regulations.jsonl.gz):
queries a citizen would type, each with the titles of the documents that should come first.
Used by tests/search/test_relevance.py and bench/search.py (MRR@10 and precision@3)."""

from __future__ import annotations

from collections.abc import Sequence

METROLOGY = {
    "计量法",
    "计量法实施细则",
    "强制检定的工作计量器具检定管理办法",
    "上海市计量监督管理条例",
    "山东省计量条例",
    "河南省计量监督管理条例",
    "浙江省计量监督管理条例",
    "重庆市计量监督管理条例",
}
TAXI = {
    "上海市出租汽车管理条例",
    "北京市出租汽车管理条例",
    "青岛市客运出租汽车管理条例",
    "郑州市客运出租汽车管理条例",
    "宁波市出租汽车客运管理条例",
    "杭州市客运出租汽车管理条例",
}

# (query, relevant titles): known items first, then topics.
JUDGEMENTS: list[tuple[str, set[str]]] = [
    ("计量法", {"计量法"}),
    ("计量法实施细则", {"计量法实施细则"}),
    ("浙江 计量 条例", {"浙江省计量监督管理条例"}),
    ("山东计量条例", {"山东省计量条例"}),
    ("上海市计量监督管理条例", {"上海市计量监督管理条例"}),
    ("河南 计量", {"河南省计量监督管理条例"}),
    ("重庆计量监督", {"重庆市计量监督管理条例"}),
    ("投诉举报", {"市场监督管理投诉举报处理暂行办法"}),
    ("行政处罚信息公示", {"市场监督管理行政处罚信息公示规定"}),
    ("产品质量法", {"产品质量法"}),
    ("价格法", {"价格法"}),
    ("明码标价", {"明码标价和禁止价格欺诈规定"}),
    ("标准化法", {"标准化法"}),
    ("食品安全法", {"食品安全法"}),
    ("法定计量单位", {"国务院关于在我国统一实行法定计量单位的命令"}),
    ("价格违法行为处罚", {"价格违法行为行政处罚规定"}),
    ("反不正当竞争", {"反不正当竞争法"}),
    ("国防计量", {"国防计量监督管理条例"}),
    ("12315", {"市场监督管理投诉举报处理暂行办法"}),
    ("强制检定", METROLOGY),
    ("计量器具检定", METROLOGY),
    (
        "加油机",
        {"浙江省计量监督管理条例", "重庆市计量监督管理条例", "强制检定的工作计量器具检定管理办法"},
    ),
    (
        "作弊装置",
        {
            "山东省计量条例",
            "浙江省计量监督管理条例",
            "重庆市计量监督管理条例",
            "宁波市菜市场管理条例",
        },
    ),
    ("出租汽车管理", TAXI),
    (
        "消费者权益保护",
        {"消费者权益保护法", "上海市消费者权益保护条例", "山东省消费者权益保护条例"},
    ),
]


def reciprocal_rank(titles: Sequence[str], relevant: set[str], k: int = 10) -> float:
    for rank, title in enumerate(titles[:k], start=1):
        if title in relevant:
            return 1.0 / rank
    return 0.0


def precision_at(titles: Sequence[str], relevant: set[str], k: int = 3) -> float:
    """Distinct relevant titles among the first k, out of what was possible (a known item has
    one; two versions of the same regulation count once)."""
    best = min(k, len(relevant))
    return len({title for title in titles[:k] if title in relevant}) / best


def all_relevant_titles() -> set[str]:
    return set().union(*(relevant for _, relevant in JUDGEMENTS))
