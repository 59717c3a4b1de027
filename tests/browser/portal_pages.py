"""Every page of the portal, for every role, found from the application's own routes.

A page is a GET route that the domains register outside the OpenAPI schema (the HTML routers are
``include_in_schema=False``; the JSON API is in the schema). Routes with path parameters get
their demo ids by following the links of the demo portal's pages, so a new page, or a new domain,
is walked without touching this file. Shared by tests/browser/test_every_page.py and the
``make screenshots`` target (which runs that test with GONGZHI_SCREENSHOT_DIR set).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from fastapi.routing import APIRoute

from portal import domains
from portal.demo import DEMO_PASSWORD

REPOSITORY = Path(__file__).resolve().parents[2]
AXE_SCRIPT = REPOSITORY / "node_modules" / "axe-core" / "axe.min.js"

# Phone (small and common) and desktop widths, with a height typical for each.
VIEWPORTS = {320: 640, 390: 844, 1366: 900}

# The demo users of portal/demo.py, one per role; None is a visitor who is not logged in.
ROLES: dict[str, str | None] = {
    "anonymous": None,
    "citizen": "citizen@gongzhi.demo",
    "regulator": "regulator@gongzhi.demo",
    "institution": "institution@gongzhi.demo",
    "association": "association@gongzhi.demo",
    "editor": "editor@gongzhi.demo",
    "admin": "admin@gongzhi.demo",
    "owner": "owner@gongzhi.demo",
}

# Pages whose demo ids no page links to, or that have several states worth seeing each: the sticker
# landing page in every state of api/certificates/demo.py, a token that does not exist and a signed
# token that does not verify; the lookup with a certificate found (valid and revoked), a serial
# number's list and nothing found; search with results.
EXAMPLES: dict[str, list[str]] = {
    "/certificates": [
        "/certificates",
        "/certificates?q=XYJC2026-0001",
        "/certificates?q=XS2301001",
        "/certificates?q=xyjc2026-0006",
        "/certificates?q=NOTHING-SUCH",
    ],
    # With results; and a search that finds nothing, with a correction and a filter to drop.
    "/search": ["/search", "/search?q=计量", "/search?q=量子引力波&kind=notice"],
    "/v/{token}": [
        "/v/DEMO-SCALE-VALID",
        "/v/DEMO-SCALE-EXPIRING",
        "/v/DEMO-SCALE-EXPIRED",
        "/v/DEMO-SCALE-FAILED",
        "/v/DEMO-FUEL-REVOKED",
        "/v/DEMO-SCALE-NEVER",
        "/v/NO-SUCH-STICKER",
        "/v/eyJhbGciOiJFZERTQSIsImtpZCI6Inh4In0.e30.c2ln",
    ],
    # A year chinese-calendar knows, on any day: on New Year's Day 2027 the back office's table
    # holds only 2027, not imported yet, which links to the import form and not to a year page.
    "/admin/calendar/{year}": ["/admin/calendar/2026"],
}

# Pages that exist only outside the route table: what a mistyped address shows.
EXTRA_PAGES = ["/no-such-page"]

# Pages left out of the walk, with the reason. Keep this short: a page left out is a page nobody
# checks on a phone.
EXCLUDED: dict[str, str] = {
    "/open311/v2/{rest:path}": "not a page: Open311's catch-all answers unknown Open311 paths "
    "with an Open311 error document (XML or JSON), as GeoReport v2 clients expect",
    "/staff/complaints/{case_id}/documents/{document_id}": "not a page: a case's legal document "
    "as PDF for its handling regulator (tests/api/complaints/test_documents.py)",
    "/inspections/verify_draw.py": "not a page: the standalone draw verifier a citizen downloads "
    "(tests/browser/test_inspections.py runs it as the campaign page says)",
}

# Pages whose demo data a checkout may lack, with why; without it their cases are skipped, not
# failed. Any other page that no demo page links to fails the walk.
OPTIONAL_DEMO: dict[str, str] = {
    "/regulations/{regulation_id}": "the demo loads regulations only from the corpus file "
    "(GONGZHI_REGULATIONS_CORPUS), which this checkout does not have",
}

# Listing pages whose links are not on any page without a query: a search that finds regulations.
# 计量法实施细则 first: its regulation page lists the other version.
CRAWL_SEEDS = ["/search?q=计量法实施细则", "/search?q=计量", "/search?q=计量法"]


def page_routes() -> list[str]:
    """The path templates of the portal's HTML pages, as the application registers them."""
    paths: list[str] = []

    def walk(routes: list[Any], prefix: str, in_schema: bool) -> None:
        for route in routes:
            # A router included into another router stays one entry (FastAPI >= 0.16x): follow it.
            included = getattr(route, "original_router", None)
            if included is not None:
                context = route.include_context
                walk(
                    included.routes,
                    prefix + (context.prefix or ""),
                    in_schema and context.include_in_schema,
                )
            elif (
                isinstance(route, APIRoute)
                and "GET" in route.methods
                and not (in_schema and route.include_in_schema)
                and prefix + route.path not in paths
            ):
                paths.append(prefix + route.path)

    for kind in ("routes", "pages"):
        for _, module in domains.modules(kind):
            walk(module.router.routes, "", True)
    return paths


def pages() -> list[str]:
    """Every page to walk: route templates (with examples expanded) and the extra pages."""
    walked: list[str] = []
    for path in page_routes():
        if path in EXCLUDED:
            continue
        walked.extend(EXAMPLES.get(path, [path]))
    return walked + EXTRA_PAGES


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{[^}]+\}", template)
    return re.compile("^" + "[^/?#]+".join(re.escape(part) for part in parts) + "$")


def login(client: httpx.Client | httpx.AsyncClient, base: str, email: str) -> httpx.Request:
    """The form post of /login (returns the request to send, so both clients can use it)."""
    return client.build_request(
        "POST",
        f"{base}/login",
        data={"email": email, "password": DEMO_PASSWORD},
        headers={"Origin": base},
    )


def demo_links(base: str, templates: list[str]) -> dict[str, str]:
    """For each template with parameters, the first link to it on any page any role can open."""
    wanted = {t: _pattern(t) for t in templates if "{" in t and t not in EXAMPLES}
    found: dict[str, str] = {}
    starts = [t for t in templates if "{" not in t]
    fixed = set(starts)  # /editor/articles/new is its own page, not an article's id
    starts += CRAWL_SEEDS
    for email in ROLES.values():
        with httpx.Client(timeout=30) as client:
            if email is not None:
                response = client.send(login(client, base, email))
                assert response.status_code == 303, f"demo login failed for {email}"
            for start in starts:
                response = client.get(base + start)
                if response.status_code != 200:
                    continue
                for href in re.findall(r'href="(/[^"#?]*)', response.text):
                    for template, pattern in wanted.items():
                        if template not in found and href not in fixed and pattern.match(href):
                            found[template] = href
        if len(found) == len(wanted):
            break
    return found


# Runs in the page. Each text node with two characters side by side must fit them on one line in
# the box that lays it out (the nearest ancestor that is not plain inline): a table squeezed to a
# character per column, or a flex item shrunk to nothing, fails here. Hidden and visually hidden
# text (a 1 px clipped box for screen readers) is not laid out for reading and is left out.
NARROW_TEXT_JS = """
() => {
  const skip = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'TEXTAREA', 'OPTION', 'SELECT']);
  const out = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const charWidth = (node, i) => {
    const range = document.createRange();
    range.setStart(node, i);
    range.setEnd(node, i + 1);
    return range.getBoundingClientRect().width;
  };
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || skip.has(parent.tagName) || parent.closest('svg')) continue;
    const pair = /\\S\\S/u.exec(node.textContent);
    if (!pair) continue;
    let box = parent;
    while (box.parentElement && getComputedStyle(box).display === 'inline') box = box.parentElement;
    if (seen.has(box)) continue;
    seen.add(box);
    const style = getComputedStyle(box);
    if (style.visibility !== 'visible' || box.getClientRects().length === 0) continue;
    const rect = box.getBoundingClientRect();
    if (rect.width <= 1 && rect.height <= 1) continue;
    const need = charWidth(node, pair.index) + charWidth(node, pair.index + 1);
    const content = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (box.clientWidth > 0 && content + 0.5 < need) {
      const name = box.tagName.toLowerCase() + (box.id ? '#' + box.id : '') +
        (box.className && typeof box.className === 'string' ? '.' + box.className.trim().split(/\\s+/).join('.') : '');
      out.push(`${name} is ${content.toFixed(0)} px wide for "${node.textContent.trim().slice(0, 20)}"`);
    }
  }
  return out;
}
"""

OVERFLOW_JS = """
() => {
  const width = window.innerWidth;
  if (document.documentElement.scrollWidth <= width) return null;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const rect = el.getBoundingClientRect();
    if (rect.right > width + 0.5 && rect.width > 0) {
      const inner = [...el.children].some((c) => c.getBoundingClientRect().right > width + 0.5);
      if (!inner) wide.push(el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '') + ` (right edge ${rect.right.toFixed(0)})`);
    }
    if (wide.length >= 5) break;
  }
  return `scrollWidth ${document.documentElement.scrollWidth} > ${width}: ` + wide.join(', ');
}
"""

AXE_JS = """
async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations.map((v) =>
    `${v.id} (${v.impact}): ${v.help} — ` + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | '));
}
"""
