"""The CJK fonts PDFs embed: Debian's fonts-noto-cjk (scripts/install-system-deps.sh installs it),
then fonts-wqy-microhei; a collection's Simplified Chinese face is the one used. Certificate labels
(api/certificates/labels.py) draw in the sans-serif face, legal documents in the serif one (宋体's
kin, as printed notices use)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

NOTO = Path("/usr/share/fonts/opentype/noto")
WQY = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")

SANS = (
    (NOTO / "NotoSansCJK-Regular.ttc", NOTO / "NotoSansCJK-Bold.ttc"),
    (WQY, None),
)
SERIF = (
    (NOTO / "NotoSerifCJK-Regular.ttc", NOTO / "NotoSerifCJK-Bold.ttc"),
    *SANS,
)


@dataclass(frozen=True)
class CjkFonts:
    regular: Path
    regular_index: int
    bold: Path | None
    bold_index: int


def simplified_chinese_face(path: Path) -> int:
    """The index of the Simplified Chinese face in a collection (.ttc), 0 for a single font."""
    if path.suffix.lower() not in (".ttc", ".otc"):
        return 0
    from fontTools.ttLib import TTCollection

    collection = TTCollection(str(path), lazy=True)
    try:
        for index, font in enumerate(collection.fonts):
            name = font["name"].getDebugName(4) or ""
            if name.endswith(" SC") and "Mono" not in name:
                return index
        return 0
    finally:
        collection.close()


@cache
def find_cjk_fonts(
    configured: Path | None, candidates: tuple[tuple[Path, Path | None], ...] = SANS
) -> CjkFonts | None:
    """The configured file, else the first of ``candidates`` installed; None if there is none."""
    choices = [(configured, None)] if configured is not None else list(candidates)
    for regular, bold in choices:
        if regular is not None and regular.is_file():
            has_bold = bold is not None and bold.is_file()
            return CjkFonts(
                regular=regular,
                regular_index=simplified_chinese_face(regular),
                bold=bold if has_bold else None,
                bold_index=simplified_chinese_face(bold) if bold is not None and has_bold else 0,
            )
    return None
