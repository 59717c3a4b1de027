"""Printable labels for a certificate (检定标志标签), for the issuing institution to stick on the
instrument: the signed QR code (docs/stickers.md), 检定合格 or the certificate's state, the
certificate number, the valid-until date and the institution, as SVG or PDF, one label of a common
size or an A4 sheet of them.

One layout (``label_layout``, in millimetres) is drawn by both writers, so the SVG on screen and
the PDF on the printer agree. The PDF embeds a subset of a CJK font installed on the server
(Debian's fonts-noto-cjk, scripts/install-system-deps.sh, or GONGZHI_CERTIFICATE_LABEL_FONT_FILE):
a label printer has no Chinese font of its own. tests/api/certificates/test_labels.py renders the
PDF at 300 dpi and decodes the QR code with zbar, at every size offered.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import segno
from fpdf import FPDF

from api.certificates.errors import LabelFontMissing
from portal.cjk_fonts import SANS, CjkFonts, find_cjk_fonts

MM_PER_POINT = 25.4 / 72
A4 = (210.0, 297.0)
SHEET_MARGIN = 5.0  # mm: what an office printer cannot print at a sheet's edge
# The QR's own quiet zone, in modules. The label's margin adds about four more of white.
QR_BORDER = 2


@dataclass(frozen=True)
class LabelSize:
    width: float  # mm
    height: float


# Common sizes of self-adhesive verification labels (width × height, mm).
SIZES: dict[str, LabelSize] = {
    "40x30": LabelSize(40, 30),
    "50x30": LabelSize(50, 30),
    "60x40": LabelSize(60, 40),
}


@dataclass(frozen=True)
class LabelContent:
    url: str  # what the QR code holds: the signed sticker URL
    headline: str  # 检定合格, or the state when the certificate is not valid
    valid: bool
    number: str
    valid_until: str
    institution: str


@dataclass(frozen=True)
class Text:
    x: float
    baseline: float
    size: float  # em height, mm
    text: str
    bold: bool = False
    centre: bool = False
    light: bool = False  # white, on the dark band of a label that is not valid


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    band: float  # height of the headline band (dark when the certificate is not valid)
    dark_band: bool
    qr_x: float
    qr_y: float
    module: float  # mm per QR module
    modules: tuple[tuple[bool, ...], ...]  # with the quiet zone
    texts: tuple[Text, ...]


def _em_width(text: str) -> float:
    """Width in ems in Noto Sans CJK: ideographs are one em, Latin letters and digits about
    0.6 (an estimate on the wide side; the PDF writer checks with the font's own metrics)."""
    return sum(1.0 if ord(char) > 0x2E80 else 0.62 for char in text)


def _fitted(text: str, size: float, width: float) -> float:
    return min(size, width / max(_em_width(text), 0.1))


def _wrapped(text: str, size: float, width: float, lines: int) -> tuple[float, list[str]]:
    """``text`` in at most ``lines`` lines of ``width``, shrinking the size when it must."""
    while True:
        rows: list[str] = [""]
        for char in text:
            if _em_width(rows[-1] + char) * size > width and rows[-1]:
                rows.append("")
            rows[-1] += char
        if len(rows) <= lines or size < 1.2:
            return size, rows[:lines]
        size *= 0.9


def label_layout(content: LabelContent, size: LabelSize) -> Layout:
    scale = size.height / 30
    margin = 1.2 * scale
    band = 6.4 * scale
    qr = segno.make(content.url, error="m", micro=False)
    modules = tuple(tuple(bool(v) for v in row) for row in qr.matrix_iter(border=QR_BORDER))
    side = size.height - band - 2 * margin
    qr_x, qr_y = margin, band + margin
    column_x = qr_x + side + 1.2 * scale
    column = size.width - column_x - margin
    label, value, gap = 1.7 * scale, 2.6 * scale, 0.9 * scale
    texts: list[Text] = [
        Text(
            size.width / 2,
            band / 2 + 1.5 * scale,
            _fitted(content.headline, 4.2 * scale, size.width - 2 * margin),
            content.headline,
            bold=True,
            centre=True,
            light=not content.valid,
        )
    ]
    y = qr_y + 0.4 * scale
    for caption, text in (("证书编号", content.number), ("有效期至", content.valid_until)):
        y += label
        texts.append(Text(column_x, y, label, caption))
        fitted = _fitted(text, value, column)
        y += fitted + 0.5 * scale
        texts.append(Text(column_x, y, fitted, text, bold=True))
        y += gap
    room = size.height - margin - y
    institution_size, rows = _wrapped(content.institution, 1.8 * scale, column, 3)
    line = institution_size * 1.25
    y += max(0.0, room - line * len(rows))  # the institution sits at the bottom of the column
    for row in rows:
        y += line
        texts.append(Text(column_x, y - 0.25 * institution_size, institution_size, row))
    return Layout(
        width=size.width,
        height=size.height,
        band=band,
        dark_band=not content.valid,
        qr_x=qr_x,
        qr_y=qr_y,
        module=side / len(modules),
        modules=modules,
        texts=tuple(texts),
    )


def _runs(row: tuple[bool, ...]) -> list[tuple[int, int]]:
    """(start, length) of each run of dark modules in a row."""
    runs, start = [], None
    for x, dark in enumerate((*row, False)):
        if dark and start is None:
            start = x
        elif not dark and start is not None:
            runs.append((start, x - start))
            start = None
    return runs


def _n(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


FONT_FAMILY = "'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif"


def label_svg(layout: Layout, *, title: str) -> bytes:
    """The label at its printed size (width and height in mm)."""
    path = "".join(
        f"M{x} {y}h{length}v1h-{length}z"
        for y, row in enumerate(layout.modules)
        for x, length in _runs(row)
    )
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" version="1.1" '
        f'width="{_n(layout.width)}mm" height="{_n(layout.height)}mm" '
        f'viewBox="0 0 {_n(layout.width)} {_n(layout.height)}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{_n(layout.width)}" height="{_n(layout.height)}" fill="#fff"/>',
    ]
    if layout.dark_band:
        parts.append(f'<rect width="{_n(layout.width)}" height="{_n(layout.band)}" fill="#000"/>')
    else:
        parts.append(
            f'<path d="M0 {_n(layout.band)}H{_n(layout.width)}" stroke="#000" stroke-width=".2"/>'
        )
    parts.append(
        f'<g transform="translate({_n(layout.qr_x)} {_n(layout.qr_y)}) scale({layout.module:.5f})">'
        f'<path d="{path}" fill="#000" shape-rendering="crispEdges"/></g>'
    )
    parts.append(f"<g font-family={quoteattr(FONT_FAMILY)}>")
    for text in layout.texts:
        attributes = [
            f'x="{_n(text.x)}"',
            f'y="{_n(text.baseline)}"',
            f'font-size="{_n(text.size)}"',
            f'fill="{"#fff" if text.light else "#000"}"',
        ]
        if text.bold:
            attributes.append('font-weight="700"')
        if text.centre:
            attributes.append('text-anchor="middle"')
        parts.append(f"<text {' '.join(attributes)}>{escape(text.text)}</text>")
    parts.append("</g></svg>")
    return "".join(parts).encode("utf-8")


# --- PDF ----------------------------------------------------------------------------------------

# The fonts are found by portal/cjk_fonts.py (Debian's fonts-noto-cjk, then fonts-wqy-microhei).
LabelFonts = CjkFonts


def label_fonts(configured: Path | None) -> LabelFonts:
    """The font for PDF labels: the configured file, else the first Debian CJK font installed."""
    fonts = find_cjk_fonts(configured, SANS)
    if fonts is None:
        raise LabelFontMissing(
            detail_zh="服务器未安装中文字体（Debian 软件包 fonts-noto-cjk），暂时无法生成 PDF 标签。"
        )
    return fonts


def _draw(pdf: FPDF, layout: Layout, left: float, top: float, *, bold: bool) -> None:
    pdf.set_fill_color(0, 0, 0)
    if layout.dark_band:
        pdf.rect(left, top, layout.width, layout.band, style="F")
    else:
        pdf.set_line_width(0.2)
        pdf.line(left, top + layout.band, left + layout.width, top + layout.band)
    for y, row in enumerate(layout.modules):
        for x, length in _runs(row):
            pdf.rect(
                left + layout.qr_x + x * layout.module,
                top + layout.qr_y + y * layout.module,
                length * layout.module,
                layout.module,
                style="F",
            )
    for text in layout.texts:
        pdf.set_font("cjk", "B" if text.bold and bold else "", text.size / MM_PER_POINT)
        width: float = pdf.get_string_width(text.text)
        margin = 1.2 * layout.height / 30
        room = layout.width - (2 * margin if text.centre else text.x + margin)
        if width > room:  # the estimate was short for this font: shrink to fit exactly
            pdf.set_font_size(text.size / MM_PER_POINT * room / width)
            width = pdf.get_string_width(text.text)
        pdf.set_text_color(255 if text.light else 0)
        pdf.text(
            left + (text.x - width / 2 if text.centre else text.x), top + text.baseline, text.text
        )


# Reading the CJK font and embedding its subset costs seconds of CPU on a small server: at most
# two labels are drawn at a time (the others wait their turn rather than starve the portal), and
# the same label asked again is served from memory.
_DRAWING = threading.BoundedSemaphore(2)


def labels_pdf(
    layout: Layout, *, fonts: LabelFonts, title: str, sheet: bool, copies: int = 1, start: int = 1
) -> bytes:
    """One label on a page of its own size, or ``copies`` labels on an A4 sheet from position
    ``start`` (1 = top left, row by row), so a sheet already partly used can be fed again."""
    with _DRAWING:
        return _labels_pdf(layout, fonts, title, sheet, copies, start)


# Per process on purpose (issue 18): a pure function of its arguments, which hold everything the
# label shows, so a changed certificate asks for another entry and no node serves a stale one.
@lru_cache(maxsize=32)
def _labels_pdf(
    layout: Layout, fonts: LabelFonts, title: str, sheet: bool, copies: int, start: int
) -> bytes:
    if sheet:
        pdf = FPDF(unit="mm", format=A4)
    else:
        pdf = FPDF(unit="mm", format=(layout.width, layout.height))
    pdf.set_margin(0)
    pdf.set_auto_page_break(False)
    pdf.set_title(title)
    pdf.set_creator("共治 Gongzhi")
    pdf.add_font("cjk", "", str(fonts.regular), collection_font_number=fonts.regular_index)
    if fonts.bold is not None:
        pdf.add_font("cjk", "B", str(fonts.bold), collection_font_number=fonts.bold_index)
    pdf.add_page()
    if not sheet:
        _draw(pdf, layout, 0, 0, bold=fonts.bold is not None)
        return bytes(pdf.output())
    columns, rows = sheet_grid(layout)
    left0 = (A4[0] - columns * layout.width) / 2
    top0 = (A4[1] - rows * layout.height) / 2
    for slot in range(start - 1, start - 1 + copies):
        if slot >= columns * rows:
            break
        row, column = divmod(slot, columns)
        # a hairline to cut along when the sheet is plain paper rather than die-cut labels
        pdf.set_draw_color(190)
        pdf.set_line_width(0.1)
        pdf.rect(
            left0 + column * layout.width, top0 + row * layout.height, layout.width, layout.height
        )
        pdf.set_draw_color(0)
        _draw(
            pdf,
            layout,
            left0 + column * layout.width,
            top0 + row * layout.height,
            bold=fonts.bold is not None,
        )
    return bytes(pdf.output())


def sheet_grid(layout: Layout) -> tuple[int, int]:
    """Columns and rows of labels of this size on an A4 sheet."""
    return (
        math.floor((A4[0] - 2 * SHEET_MARGIN) / layout.width),
        math.floor((A4[1] - 2 * SHEET_MARGIN) / layout.height),
    )
