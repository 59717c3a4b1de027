"""One masking rule for every public page and API: enterprises are named in full, individuals are
masked to their family name (张三 → 张*, 欧阳娜娜 → 欧阳**, John Smith → J*** S****), phone
numbers to their first three and last four digits (13812341234 → 138****1234).

Used by certificates (instrument owners), complaints (businesses that are individuals) and credit.
"""

from __future__ import annotations

# The common two-character family names; everything else keeps one character.
_COMPOUND_SURNAMES = frozenset(
    "欧阳 太史 端木 上官 司马 东方 独孤 南宫 万俟 闻人 夏侯 诸葛 尉迟 公羊 赫连 澹台 皇甫 宗政 濮阳 "
    "公冶 太叔 申屠 公孙 慕容 仲孙 钟离 长孙 宇文 司徒 鲜于 司空 闾丘 子车 亓官 司寇 巫马 公西 "
    "颛孙 壤驷 公良 漆雕 乐正 宰父 谷梁 拓跋 夹谷 轩辕 令狐 段干 百里 呼延 东郭 南门 羊舌 微生 "
    "公户 公玉 公仪 梁丘 公仲 公上 公门 公山 公坚 左丘 公伯 西门 公祖 第五 公乘 贯丘 公皙 南荣 "
    "东里 东宫 仲长 子书 子桑 即墨 达奚 褚师 吴铭".split()
)


def mask_person_name(name: str | None) -> str:
    """Keep the family name, replace the rest with one ``*`` per character."""
    name = (name or "").strip()
    if not name:
        return ""
    if name.isascii():
        return " ".join(
            word[0] + "*" * (len(word) - 1) if word else word for word in name.split(" ")
        )
    keep = 2 if len(name) > 2 and name[:2] in _COMPOUND_SURNAMES else 1
    return name[:keep] + "*" * max(len(name) - keep, 1)


def public_owner_name(name: str, *, is_individual: bool) -> str:
    """The name a public page or API may show: enterprises in full, individuals masked."""
    return mask_person_name(name) if is_individual else name


def mask_phone(phone: str | None) -> str:
    """Keep the first three and last four digits: 13812341234 → 138****1234."""
    if not phone:
        return ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
