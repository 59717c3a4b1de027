"""A judged query set over the regulations corpus (../shared/corpus/regulations.jsonl.gz):
queries a citizen would type, each with the titles of the documents that should come first.
Used by tests/search/test_relevance.py and bench/search.py (MRR@10 and precision@3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

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

SCALES = METROLOGY | {
    # 短尺少秤 as a price fraud; 秤 among the compulsorily verified instruments; 公平秤.
    "北京市实施《消费者权益保护法》办法",
    "河南省制止不正当价格行为和牟取暴利条例",
    "价格管理条例",
}
FUEL = {"浙江省计量监督管理条例", "重庆市计量监督管理条例", "强制检定的工作计量器具检定管理办法"}
PREPACKAGED = {"上海市计量监督管理条例", "山东省计量条例", "河南省计量监督管理条例",
               "重庆市计量监督管理条例"}  # fmt: skip
PRODUCT_QUALITY = {
    "产品质量法",
    "产品质量监督试行办法",
    "浙江省产品质量监督条例",
    "河南省产品质量监督管理条例",
    "重庆市产品质量条例",
    "上海市产品质量条例",
    "山东省实施《产品质量法》办法",
}


class Judged(NamedTuple):
    """A query (with the API's filters, as a citizen would set them) and the titles of the
    documents that answer it, judged by reading the corpus."""

    q: str
    relevant: set[str]
    filters: dict[str, str] = {}


def j(q: str, relevant: set[str], **filters: str) -> Judged:
    return Judged(q, relevant, filters)


# Known items first, then topics, filtered, pinyin, miswritten and long queries. Two versions of
# one regulation share a title, so either counts.
JUDGEMENTS: list[Judged] = [
    j("计量法", {"计量法"}),
    j("计量法实施细则", {"计量法实施细则"}),
    j("浙江 计量 条例", {"浙江省计量监督管理条例"}),
    j("山东计量条例", {"山东省计量条例"}),
    j("上海市计量监督管理条例", {"上海市计量监督管理条例"}),
    j("河南 计量", {"河南省计量监督管理条例"}),
    j("重庆计量监督", {"重庆市计量监督管理条例"}),
    j("投诉举报", {"市场监督管理投诉举报处理暂行办法"}),
    j("行政处罚信息公示", {"市场监督管理行政处罚信息公示规定"}),
    j("产品质量法", {"产品质量法"}),
    j("价格法", {"价格法"}),
    j("明码标价", {"明码标价和禁止价格欺诈规定"}),
    j("标准化法", {"标准化法"}),
    j("食品安全法", {"食品安全法"}),
    j("法定计量单位", {"国务院关于在我国统一实行法定计量单位的命令"}),
    j("价格违法行为处罚", {"价格违法行为行政处罚规定"}),
    j("反不正当竞争", {"反不正当竞争法"}),
    j("国防计量", {"国防计量监督管理条例"}),
    j("12315", {"市场监督管理投诉举报处理暂行办法"}),
    j("强制检定", METROLOGY),
    j("计量器具检定", METROLOGY),
    j("加油机", FUEL),
    j(
        "作弊装置",
        {
            "山东省计量条例",
            "浙江省计量监督管理条例",
            "重庆市计量监督管理条例",
            "宁波市菜市场管理条例",
        },
    ),
    j("出租汽车管理", TAXI),
    j(
        "消费者权益保护",
        {"消费者权益保护法", "上海市消费者权益保护条例", "山东省消费者权益保护条例"},
    ),
    # More known items and topics.
    j("电子商务法", {"电子商务法"}),
    j("广告法", {"广告法"}),
    j("反垄断法", {"反垄断法"}),
    j("行政处罚法", {"行政处罚法"}),
    j("特种设备安全法", {"特种设备安全法"}),
    j("认证认可条例", {"认证认可条例"}),
    j("进口计量器具", {"进口计量器具监督管理办法"}),
    j("标准化法实施条例", {"标准化法实施条例"}),
    j("工业产品生产许可证", {"工业产品生产许可证管理条例"}),
    j("侵害消费者权益行为处罚", {"侵害消费者权益行为处罚办法"}),
    j("单用途预付卡", {"上海市单用途预付消费卡管理规定", "北京市单用途预付卡管理条例"}),
    j("检验检测", {"上海市检验检测条例", "浙江省检验机构管理条例"}),
    j("价格欺诈", {"明码标价和禁止价格欺诈规定"}),
    j("虚假广告", {"广告法"}),
    j("产品质量监督", PRODUCT_QUALITY),
    j("仲裁检定", {"计量法实施细则"}),
    j("计量检定机构", METROLOGY - {"上海市计量监督管理条例", "山东省计量条例"}),
    # Filtered: region (a facet name), kind, date range.
    j("计量", {"浙江省计量监督管理条例"}, region="浙江"),
    j("计量", {"山东省计量条例"}, region="山东"),
    j("出租汽车", {"宁波市出租汽车客运管理条例", "杭州市客运出租汽车管理条例"}, region="浙江"),
    j("消费者权益保护", {"上海市消费者权益保护条例"}, region="上海"),
    j("安全生产", {"北京市安全生产条例"}, region="北京"),
    j("价格", {"河南省价格监督检查条例", "河南省制止不正当价格行为和牟取暴利条例"}, region="河南"),
    j("产品质量", {"重庆市产品质量条例"}, region="重庆"),
    j("标准化", {"山东省标准化条例"}, region="山东"),
    j("计量", METROLOGY, kind="regulation"),
    j("立法法", {"立法法"}, date_from="2020-01-01"),
    j("反垄断法", {"反垄断法"}, date_from="2020-01-01", kind="regulation"),
    j(
        "计量监督管理条例",
        {"上海市计量监督管理条例", "重庆市计量监督管理条例"},
        date_from="2018-01-01",
        date_to="2020-12-31",
    ),
    # Pinyin and initials (the API answers with what was meant when nothing is found).
    j("jlf", {"计量法"}),
    j("jiliangfa", {"计量法"}),
    j("计量fa", {"计量法"}),
    j("biaozhunhuafa", {"标准化法"}),
    j("dianzishangwufa", {"电子商务法"}),
    j("cpzlf", {"产品质量法"}),
    j("chuzuqiche", TAXI),
    j("jiayouji", FUEL),
    # Miswritten: same-sounding characters, and the other name of a thing.
    j("电子称", SCALES),
    j("计价称", SCALES),
    j("计量发", {"计量法"}),
    j("标准话法", {"标准化法"}),
    j("加油枪", FUEL),
    j("出租车计价器", TAXI),
    # Long queries: a question as typed.
    j("用于贸易结算的计量器具应当定期检定", METROLOGY),
    j("经营者使用不合格的计量器具或者破坏计量器具准确度应当如何处罚", METROLOGY),
    j("商品交易市场应当设置公平秤", {"浙江省计量监督管理条例", "重庆市计量监督管理条例"}),
    j("定量包装商品净含量不足", PREPACKAGED),
    j("出租汽车计价器作弊", TAXI),
    j(
        "网购七日无理由退货",
        {
            "消费者权益保护法",
            "山东省消费者权益保护条例",
            "最高人民法院关于审理网络消费纠纷案件适用法律若干问题的规定（一）",
        },
    ),
    j("超市明码标价与结算价格不一致", {"明码标价和禁止价格欺诈规定"}),
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
    return set().union(*(judged.relevant for judged in JUDGEMENTS))
