"""The legal documents a case produces, as PDFs: 受理通知书 and 不予受理告知书 (a complaint's
acceptance decision, 投诉举报处理暂行办法 第十四条/第十五条), 终止调解决定书 (第二十一条) and
举报处理结果告知书 (a real-name reporter told of the 立案 decision, 第三十一条).

A document is the public event that decided it (its id is the document's id), written out with
the case's facts. Only the submitter (tracking number + 查询码, or their account) and the
handling regulator of the case's region may download it (tracking.document_for_tracker,
staff.document_for_staff). The PDF embeds a subset of a Debian CJK font (portal/cjk_fonts.py, the
serif face): A4 laid out after GB/T 9704 (公文格式): 22 pt bold title, 16 pt body on a 22-line
grid, paragraphs indented two characters, lines justified, no line starting with a closing mark.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fpdf import FPDF
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints.errors import DocumentFontMissing, DocumentNotFound
from api.complaints.models import Case, CaseEvent, CaseKind, CaseParty, Finding, PartyRole
from api.complaints.schemas import DocumentLink
from api.complaints.settings import ComplaintsSettings
from api.complaints.vocabulary import FINDING_NAMES, REJECT_REASONS
from portal import clock
from portal.cjk_fonts import SERIF, find_cjk_fonts
from portal.regions.models import Region

TITLES = {
    "acceptance_notice": "受理通知书",
    "rejection_notice": "不予受理告知书",
    "mediation_termination": "终止调解决定书",
    "report_result": "举报处理结果告知书",
}

# 投诉举报处理暂行办法 第二十一条: the grounds of a terminated mediation the workflow records.
TERMINATION_GROUNDS = {
    "no_agreement": "经组织调解，投诉人与被投诉人未能达成调解协议",
    "withdrawn": "投诉人撤回投诉或者双方自行和解",
}


def document_kind(case: Case, event: CaseEvent) -> str | None:
    """Which document, if any, the public event ``event`` of ``case`` produced."""
    if not event.public:
        return None
    if case.kind is CaseKind.complaint:
        if event.type == "accepted":
            return "acceptance_notice"
        if event.type == "rejected":
            return "rejection_notice"
        if event.type == "concluded" and event.data.get("mediation_result") in TERMINATION_GROUNDS:
            return "mediation_termination"
        return None
    # An anonymous reporter is told nothing (第三十一条 speaks of 实名举报); they follow the case.
    decided = event.type in ("concluded", "merged_result")  # merged: repeats.tell_merged
    if decided and event.data.get("filing") and not case.anonymous:
        return "report_result"
    return None


async def documents_of(session: AsyncSession, case: Case) -> list[DocumentLink]:
    events = await session.scalars(
        select(CaseEvent)
        .where(col(CaseEvent.case_id) == case.id, col(CaseEvent.public).is_(True))
        .order_by(col(CaseEvent.at))
    )
    links = []
    for event in events:
        kind = document_kind(case, event)
        if kind is not None:
            links.append(
                DocumentLink(
                    id=event.id,
                    kind=kind,
                    title=TITLES[kind],
                    issued_on=clock.local_date(event.at),
                )
            )
    return links


@dataclass(frozen=True)
class DocumentText:
    """A document's words, ready to lay out."""

    title: str
    reference: str
    addressee: str
    paragraphs: tuple[str, ...]
    issuer: str
    issued_on: date
    filename: str


def _day(day: date | str | None) -> str:
    if day is None:
        return ""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return f"{day.year}年{day.month}月{day.day}日"


async def document_text(
    session: AsyncSession, case: Case, document_id: object, config: ComplaintsSettings
) -> DocumentText:
    """The words of one of ``case``'s documents; 404 if the case has no such document."""
    event = await session.get(CaseEvent, document_id)
    kind = document_kind(case, event) if event is not None and event.case_id == case.id else None
    if event is None or kind is None:
        raise DocumentNotFound()
    region = await session.get(Region, case.region_code)
    issuer = f"{region.full_name if region else case.region_code}市场监督管理局"
    role = PartyRole.complainant if case.kind is CaseKind.complaint else PartyRole.reporter
    party = await session.scalar(
        select(CaseParty).where(col(CaseParty.case_id) == case.id, col(CaseParty.role) == role)
    )
    person = party.name if party is not None and party.name else role_name(case)
    business = case.business_name or "被投诉人"
    received, decided = _day(clock.local_date(case.received_at)), _day(clock.local_date(event.at))
    citation = config.complaint_document_citations.get(kind, "")
    note = (event.body or "").strip()
    paragraphs: list[str]
    if kind == "acceptance_notice":
        due = event.data.get("handling_due") or case.handling_due
        paragraphs = [
            f"您于{received}提交的对{business}的投诉（受理编号：{case.tracking_number}），"
            f"本局依据{citation}，于{decided}决定受理，并将组织调解。",
            f"调解期限自受理之日起{config.complaint_mediation_working_days}个工作日"
            + (f"，至{_day(due)}止" if due else "")
            + "。需要进行检定、检验、检测、鉴定的，所需时间不计算在调解期限内。",
        ]
        if note:
            paragraphs.append(f"承办人说明：{note}")
        paragraphs.append("您可凭受理编号和查询码在本平台“进度查询”中了解办理进展。")
        addressee, closing = f"{person}：", "特此通知。"
    elif kind == "rejection_notice":
        reason = REJECT_REASONS.get(case_reason(event), "法律、法规、规章规定不予受理的其他情形")
        paragraphs = [
            f"您于{received}提交的对{business}的投诉（受理编号：{case.tracking_number}），"
            f"经审查，存在以下情形：{reason}。",
            f"依据{citation}，本局于{decided}决定不予受理。",
        ]
        extra = note.removeprefix(reason).lstrip("。").strip()
        if extra:
            paragraphs.append(f"说明：{extra}")
        addressee, closing = f"{person}：", "特此告知。"
    elif kind == "mediation_termination":
        ground = TERMINATION_GROUNDS[str(event.data.get("mediation_result"))]
        told_by = event.data.get("parties_told_by")
        paragraphs = [
            f"{person}对{business}的投诉（受理编号：{case.tracking_number}），"
            f"本局于{_day(clock.local_date(case.accepted_at or case.received_at))}受理并组织调解。"
            f"因{ground}，依据{citation}，本局于{decided}决定终止调解。",
            f"终止调解决定自作出之日起{config.mediation_termination_notice_working_days}个工作日内"
            "告知投诉人和被投诉人" + (f"（{_day(told_by)}前）" if told_by else "") + "。",
            "终止调解不免除经营者依法应当承担的其他法律责任；投诉人可以依法通过其他途径解决该争议。",
        ]
        addressee, closing = f"投诉人{person}、被投诉人{business}：", "特此决定。"
    else:
        filed = event.data.get("filing") == "filed"
        finding = str(event.data.get("finding") or "")
        finding_text = FINDING_NAMES[Finding(finding)] if finding in Finding.__members__ else ""
        told_by = event.data.get("reporter_told_by")
        paragraphs = [
            f"您于{received}对{case.business_name or '被举报人'}的举报（受理编号："
            f"{case.tracking_number}），本局已依法核查"
            + (f"，核查结论为{finding_text}" if finding_text else "")
            + (
                f"（与{event.data['merged_into']}合并办理）"
                if event.data.get("merged_into")
                else ""
            )
            + f"。本局于{decided}决定{'立案调查' if filed else '不予立案'}。",
            f"依据{citation}，实名举报的，自作出是否立案决定之日起"
            f"{config.report_filing_notice_working_days}个工作日内告知举报人"
            + (f"（{_day(told_by)}前）" if told_by else "")
            + "，现予告知。",
        ]
        if note:
            paragraphs.append(f"处理情况：{note}")
        paragraphs.append("本局对举报人的信息予以保密。")
        addressee, closing = f"{person}：", "特此告知。"
    return DocumentText(
        title=TITLES[kind],
        reference=f"受理编号：{case.tracking_number}",
        addressee=addressee,
        paragraphs=(*paragraphs, closing),
        issuer=issuer,
        issued_on=clock.local_date(event.at),
        filename=f"{case.tracking_number}-{TITLES[kind]}.pdf",
    )


def role_name(case: Case) -> str:
    return "投诉人" if case.kind is CaseKind.complaint else "举报人"


def case_reason(event: CaseEvent) -> str:
    return str(event.data.get("reason_code") or "")


# --- the PDF ------------------------------------------------------------------------------------

MM = 72 / 25.4
# GB/T 9704-2012 §5.2: A4, text area 156 mm × 225 mm, top margin 37 mm, left 28 mm; 22 lines of
# 28 characters of 三号 (16 pt) type.
PAGE_W = 210 * MM
LEFT, TOP, TEXT_W, TEXT_H = 28 * MM, 37 * MM, 156 * MM, 225 * MM
BODY_PT, TITLE_PT, NOTE_PT = 16.0, 22.0, 10.5
LINE = TEXT_H / 22

# Marks that never start a line (they hang in the margin instead) and that never end one.
NO_LINE_START = frozenset("，。、；：？！）》」』】〕…—,.;:?!)%’”")
NO_LINE_END = frozenset("（《「『【〔‘“(")
# Latin words, numbers and tracking numbers are not broken.
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-.:/_]*|.", re.S)


def break_lines(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """Lines of ``text`` no wider than ``width`` (a closing mark may hang past it), broken
    between characters as Chinese is, never inside a Latin word or number."""
    tokens: list[str] = []
    for token in _TOKEN.findall(text):
        tokens.extend(list(token) if len(token) > 1 and measure(token) > width else [token])
    lines: list[str] = []
    line = ""
    for token in tokens:
        if not line or measure(line + token) <= width or token in NO_LINE_START:
            line += token
            continue
        if line[-1] in NO_LINE_END and len(line) > 1:
            lines.append(line[:-1])
            line = line[-1] + token
            continue
        lines.append(line)
        line = token
    if line:
        lines.append(line)
    return lines


class _Writer:
    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf
        self.y = TOP

    def newline(self, lines: float = 1) -> None:
        self.y += LINE * lines
        if self.y > TOP + TEXT_H:
            self.pdf.add_page()
            self.y = TOP + LINE

    def paragraph(self, text: str, *, indent: int = 2) -> None:
        pdf = self.pdf
        pdf.set_font("cjk", "", BODY_PT)
        first = indent * BODY_PT
        measure = pdf.get_string_width
        lines = break_lines(text, TEXT_W - first, measure)
        if len(lines) > 1:  # the lines after the first use the full width
            rest = break_lines(text[len(lines[0]) :], TEXT_W, measure)
            lines = [lines[0], *rest]
        for number, line in enumerate(lines):
            x = LEFT + (first if number == 0 else 0)
            room = TEXT_W - (first if number == 0 else 0)
            slack = room - measure(line)
            last = number == len(lines) - 1
            # Justified: the slack spread between the characters, unless the line is the last.
            spacing = slack / (len(line) - 1) if not last and len(line) > 1 and slack > 0 else 0
            pdf.set_char_spacing(spacing if spacing < BODY_PT / 3 else 0)
            pdf.text(x, self.y, line)
            pdf.set_char_spacing(0)
            self.newline()

    def right(self, text: str, *, margin_chars: int) -> None:
        pdf = self.pdf
        pdf.set_font("cjk", "", BODY_PT)
        pdf.text(LEFT + TEXT_W - margin_chars * BODY_PT - pdf.get_string_width(text), self.y, text)
        self.newline()


class _DocumentPDF(FPDF):
    def footer(self) -> None:
        # GB/T 9704 §7.5: the page number, 4号 (14 pt), under the text area.
        self.set_font("cjk", "", 14)
        mark = f"— {self.page_no()} —"
        self.text((PAGE_W - self.get_string_width(mark)) / 2, TOP + TEXT_H + 14 * MM, mark)


def render_pdf(document: DocumentText, config: ComplaintsSettings) -> bytes:
    """The document as an A4 PDF with the CJK font embedded (a subset)."""
    return _render(document, config.complaint_document_font_file)


# The same document asked again (a page reloaded, a second copy) is served from memory: drawing
# one costs a second or two of CPU. Per process on purpose (issue 18): the key is the whole
# document's text, so a changed document is another entry and no node serves an old one.
@lru_cache(maxsize=32)
def _render(document: DocumentText, font_file: Path | None) -> bytes:
    fonts = find_cjk_fonts(font_file, SERIF)
    if fonts is None:
        raise DocumentFontMissing(
            detail_zh="服务器未安装中文字体（Debian 软件包 fonts-noto-cjk），暂时无法生成 PDF 文书。"
        )
    pdf = _DocumentPDF(unit="pt", format="A4")
    pdf.set_margin(0)
    pdf.set_auto_page_break(False)
    pdf.set_title(f"{document.title} {document.reference}")
    pdf.set_creator("共治 Gongzhi")
    # dated by the portal's one injectable clock (portal/clock.py), not the library's default
    pdf.set_creation_date(clock.now())
    pdf.set_lang("zh-CN")
    pdf.add_font("cjk", "", str(fonts.regular), collection_font_number=fonts.regular_index)
    bold = "B" if fonts.bold is not None else ""
    if fonts.bold is not None:
        pdf.add_font("cjk", "B", str(fonts.bold), collection_font_number=fonts.bold_index)
    pdf.add_page()
    writer = _Writer(pdf)
    pdf.set_font("cjk", bold, TITLE_PT)
    writer.y = TOP + TITLE_PT
    pdf.text((PAGE_W - pdf.get_string_width(document.title)) / 2, writer.y, document.title)
    pdf.set_font("cjk", "", 14)
    writer.y += LINE
    pdf.text((PAGE_W - pdf.get_string_width(document.reference)) / 2, writer.y, document.reference)
    writer.newline(2)
    writer.paragraph(document.addressee, indent=0)
    for paragraph in document.paragraphs:
        writer.paragraph(paragraph)
    writer.newline()
    # GB/T 9704 §7.3.5: the issuer and the date right-aligned, four characters from the margin.
    writer.right(document.issuer, margin_chars=2)
    writer.right(_day(document.issued_on), margin_chars=4)
    writer.newline()
    pdf.set_font("cjk", "", NOTE_PT)
    pdf.text(
        LEFT,
        writer.y,
        "本文书依据案件办理记录生成，可凭受理编号在共治平台“进度查询”核验。",
    )
    return bytes(pdf.output())


# Embedding the font subset costs about a second of CPU: at most two documents are drawn at a
# time (the others wait their turn), off the event loop.
_DRAWING = threading.BoundedSemaphore(2)


def _render_limited(document: DocumentText, config: ComplaintsSettings) -> bytes:
    with _DRAWING:
        return render_pdf(document, config)


async def pdf_of(document: DocumentText, config: ComplaintsSettings) -> bytes:
    return await run_in_threadpool(_render_limited, document, config)


def pdf_response(document: DocumentText, body: bytes) -> Response:
    """The PDF for its reader: never cached by anyone else, named after the case and document."""
    return Response(
        body,
        media_type="application/pdf",
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(document.filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )
