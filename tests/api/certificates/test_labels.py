"""Printable labels (api/certificates/labels.py): the PDF printed at 300 dpi still gives a QR code
zbar decodes to the signed sticker URL, at every size offered; the SVG and the PDF carry 检定合格
or the state, the number, the valid-until date and the institution; an A4 sheet holds the copies
asked for, from the position asked for."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable

import httpx
import pypdfium2 as pdfium
import pytest
from pyzbar.pyzbar import decode

from api.certificates import labels
from api.certificates.labels import SIZES
from portal.accounts.models import User
from portal.settings import Settings
from tests.api.certificates.support import Issue
from tests.support import assert_problem

PRINTER_DPI = 300
MM_PER_POINT = 25.4 / 72
# A public address as long as a provincial portal's: the longer the URL, the denser the code.
BASE_URL = "https://jiliang-gongzhi.scjgj.shaanxi.gov.cn"


def _pages(pdf: bytes) -> list[tuple[float, float, list[str], str]]:
    """Each page's size in mm, the QR codes zbar reads at 300 dpi, and its text."""
    pages = []
    document = pdfium.PdfDocument(pdf)
    for page in document:
        width, height = page.get_size()
        image = page.render(scale=PRINTER_DPI / 72, grayscale=True).to_pil()
        codes = [symbol.data.decode("utf-8") for symbol in decode(image)]
        text = page.get_textpage().get_text_range()
        pages.append((width * MM_PER_POINT, height * MM_PER_POINT, codes, text))
    return pages


@pytest.fixture
def long_base_url(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(settings, "base_url", BASE_URL)
    return BASE_URL


@pytest.mark.parametrize("size", sorted(SIZES))
async def test_label_pdf_decodes_at_its_printed_size(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    long_base_url: str,
    size: str,
) -> None:
    created = await issue(number="LB-1", serial="LABEL-1")
    headers = await auth_headers(institution_user)
    response = await client.get(
        "/api/v1/certificates/lb-1/label.pdf", params={"size": size}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    [(width, height, codes, text)] = _pages(response.content)
    expected = SIZES[size]
    assert (round(width, 1), round(height, 1)) == (expected.width, expected.height)
    assert len(codes) == 1, f"zbar did not read the {size} label at {PRINTER_DPI} dpi"
    assert codes[0].startswith(f"{long_base_url}/v/")
    verified = await client.post("/api/v1/certificates/verify", json={"payload": codes[0]})
    assert verified.json()["signature_valid"] is True
    assert verified.json()["certificate"]["number"] == "LB-1"
    for shown in ("检定合格", "LB-1", created["valid_until"], "有效期至"):
        assert shown in text, shown
    # the institution's name, wrapped over lines in the narrow column
    assert created["institution"]["name"] in text.replace("\r\n", "").replace("\n", "")


async def test_label_svg_has_the_label_size_and_its_facts(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    created = await issue(number="LB-2")
    headers = await auth_headers(institution_user)
    response = await client.get("/api/v1/certificates/LB-2/label.svg", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/svg+xml"
    svg = ET.fromstring(response.content)
    assert (svg.get("width"), svg.get("height")) == ("40mm", "30mm")
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert texts[0] == "检定合格"
    assert "LB-2" in texts
    assert created["valid_until"] in texts
    assert created["institution"]["name"] == "".join(texts[5:])


async def test_a_label_that_is_not_valid_says_its_state(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    await issue(number="LB-3")
    headers = await auth_headers(institution_user)
    revoked = await client.post(
        "/api/v1/certificates/LB-3/revoke", json={"reason": "复查不合格"}, headers=headers
    )
    assert revoked.status_code == 200, revoked.text
    svg = await client.get("/api/v1/certificates/LB-3/label.svg", headers=headers)
    texts = [t.text for t in ET.fromstring(svg.content).iter("{http://www.w3.org/2000/svg}text")]
    assert texts[0] == "已注销"
    assert "检定合格" not in texts


async def test_a4_sheet_holds_the_copies_from_the_position_asked(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    await issue(number="LB-4")
    headers = await auth_headers(institution_user)
    response = await client.get(
        "/api/v1/certificates/LB-4/label.pdf",
        params={"sheet": "true", "copies": 3, "start": 44},
        headers=headers,
    )
    assert_problem(response, 422, "labels_do_not_fit")  # 45 labels of 40 × 30 mm on a sheet
    response = await client.get(
        "/api/v1/certificates/LB-4/label.pdf",
        params={"sheet": "true", "copies": 3, "start": 6},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    [(width, height, codes, _)] = _pages(response.content)
    assert (round(width), round(height)) == (210, 297)
    assert len(codes) == 3
    assert len(set(codes)) == 1


def test_the_same_label_asked_again_is_not_drawn_again() -> None:
    """Attack review: drawing a label PDF takes seconds of CPU (the CJK font); the same label
    asked again comes from memory, and at most two are drawn at a time."""
    content = labels.LabelContent(
        url="https://example.test/v/TOKEN",
        headline="检定合格",
        valid=True,
        number="XYJC2026-0001",
        valid_until="2027-11-01",
        institution="咸阳市计量检定测试所",
    )
    layout = labels.label_layout(content, SIZES["40x30"])
    fonts = labels.label_fonts(None)
    first = labels.labels_pdf(layout, fonts=fonts, title="t", sheet=False)
    again = labels.labels_pdf(layout, fonts=fonts, title="t", sheet=False)
    assert again is first
