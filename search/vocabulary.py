"""The domain vocabulary both engines share: words that must stay whole, and synonyms.

Meilisearch receives them as its ``dictionary`` and ``synonyms`` settings; the embedded engine
adds the words to jieba (which segments its queries) and expands query words with the synonyms.
"""

from __future__ import annotations

# Metrology terms that jieba's general dictionary splits or lacks. In Meilisearch a dictionary
# word becomes one indivisible token, so its parts are no longer found on their own (except as a
# prefix of the last query word): only words whose parts nobody searches for alone belong here
# (not 计量器具, which would hide documents from a search for 计量).
DICTIONARY: list[str] = [
    "电子秤",
    "电子计价秤",
    "强检",
    "计价秤",
    "加油机",
    "计价器",
    "强制检定",
    "市监局",
    "血压计",
    "燃气表",
    "电能表",
    "缺斤短两",
    # Hotlines inside Chinese text ("全国12315平台"): Meilisearch 1.21's segmenter glues digits
    # to the neighbouring Han characters, so they must be dictionary words to be found.
    "12315",
    "12345",
    "12365",
]

# Groups of interchangeable terms; every member finds the others.
SYNONYM_GROUPS: list[list[str]] = [
    ["市监局", "市场监管局", "市场监督管理局"],
    ["电子秤", "电子计价秤"],
    ["加油机", "加油枪"],
    ["出租车", "出租汽车"],
    ["计价器", "出租汽车计价器"],
    ["强检", "强制检定"],
    ["衡器", "秤"],
]


def synonyms_map() -> dict[str, list[str]]:
    """Meilisearch's ``synonyms`` setting: each term maps to the other members of its group."""
    mapping: dict[str, list[str]] = {}
    for group in SYNONYM_GROUPS:
        for term in group:
            mapping.setdefault(term, [])
            mapping[term].extend(other for other in group if other != term)
    return mapping


# Function characters that jieba leaves as one-character words in a sentence-like query
# (强制检定的工作计量器具 → 强制检定 / 的 / 工作 …). They are in nearly every document, so they never
# narrow a search, and in the embedded engine a one-character word is a prefix query over every
# bigram that starts with it: 的 alone cost 65 ms per query tier on the corpus (issue 12). They
# drop out of queries that have other words.
STOP_CHARACTERS: frozenset[str] = frozenset("的了和与及或之在是对等其")


# Words people search for, the targets of forgiving queries (search/forgiving.py): a query typed
# in pinyin or initials (jlf, jiliangfa, 计量fa) becomes the word with that pinyin, and a word
# typed with a same-sounding character (电子称, 计价称) becomes the word. Data, not code: add the
# terms a city's users type. The dictionary words and every synonym are targets too.
TERMS: list[str] = [
    "计量法",
    "计量法实施细则",
    "计量",
    "检定",
    "计量器具",
    "标准化法",
    "产品质量法",
    "电子商务法",
    "价格法",
    "广告法",
    "反不正当竞争法",
    "消费者权益保护法",
    "食品安全法",
    "行政处罚",
    "投诉举报",
    "加油站",
    "出租汽车",
    "眼镜",
    "验光仪",
    "水表",
    "衡器",
    "缺斤短两",
]
