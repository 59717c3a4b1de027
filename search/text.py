"""Text handling shared by the engines and the pages: normalisation, CJK bigram tokens, query
words, safe highlighting, safe Markdown and pinyin keys.

Chinese has no spaces, and most words have two characters. The embedded engine indexes every
run of Han characters as overlapping bigrams (计量法 → 计量 量法) plus the run's last character, so
every character position starts a token: a query word of two or more characters is the phrase of
its bigrams, a single character is a prefix query. Recall is exact-substring; ranking comes from
bm25 over bigrams with the title weighted above the body. Queries are segmented with jieba (the
dictionary Meilisearch's charabia uses), so both engines see the same query words.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from pypinyin import Style, lazy_pinyin

from search.vocabulary import DICTIONARY, STOP_CHARACTERS, SYNONYM_GROUPS

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RUN = re.compile(rf"[{_HAN}]+|[0-9a-z]+")
_HAN_ONLY = re.compile(rf"^[{_HAN}]+$")
# Markers that cannot occur in stored text (private-use characters, stripped on the way in): an
# engine marks matches with them, the page escapes everything and only then turns them into <mark>.
MARK_START = "\ue000"
MARK_END = "\ue001"
_MARKERS = re.compile("[\ue000\ue001]")


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters become ASCII), lower case, no marker characters."""
    return _MARKERS.sub("", unicodedata.normalize("NFKC", text)).lower()


def index_tokens(text: str) -> str:
    """Space-separated tokens for FTS5's unicode61 tokenizer: Han runs as bigrams plus the run's
    last character, ASCII letters and digits as whole words (so 12315 never matches 12345)."""
    out: list[str] = []
    for match in _TOKEN_RUN.finditer(normalize(text)):
        run = match.group()
        if _HAN_ONLY.match(run):
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
            out.append(run[-1])
        else:
            out.append(run)
    return " ".join(out)


_jieba_lock = threading.Lock()
_jieba_ready = False


def _jieba():  # type: ignore[no-untyped-def]
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        with _jieba_lock:
            if not _jieba_ready:
                jieba.setLogLevel(60)  # its start-up chatter is not useful in our logs
                jieba.initialize()
                for word in DICTIONARY:
                    jieba.add_word(word, freq=20000)
                _jieba_ready = True
    return jieba


def warm_up() -> None:
    """Load jieba's dictionary now (about a second) rather than in the first search."""
    _jieba()


@lru_cache(maxsize=4096)
def query_words(query: str) -> tuple[str, ...]:
    """The words of a query, in order: jieba segments Han text (as Meilisearch does), ASCII words
    stay whole, punctuation and stop characters drop out."""
    words: list[str] = []
    for match in _TOKEN_RUN.finditer(normalize(query)):
        run = match.group()
        if _HAN_ONLY.match(run) and len(run) > 2:
            words.extend(w for w in _jieba().cut(run, HMM=False) if w.strip())
        else:
            words.append(run)
    meaningful = [w for w in words if w not in STOP_CHARACTERS]
    # A repeated word adds nothing to the query.
    return tuple(dict.fromkeys(meaningful or words))


def synonyms_of(word: str) -> list[str]:
    for group in SYNONYM_GROUPS:
        if word in group:
            return [other for other in group if other != word]
    return []


def fts_term(word: str) -> str:
    """One word as an FTS5 expression over ``index_tokens`` output."""
    tokens = index_tokens(word).split()
    if not tokens:
        return ""
    if _HAN_ONLY.match(word):
        if len(word) == 1:
            return f'"{word}"*'
        return '"' + " ".join(tokens[:-1]) + '"'
    return '"' + " ".join(tokens) + '"'


def fts_word(word: str) -> str:
    """A query word with its synonyms, as one FTS5 expression."""
    alternatives = [t for t in (fts_term(w) for w in [word, *synonyms_of(word)]) if t]
    if len(alternatives) == 1:
        return alternatives[0]
    return "(" + " OR ".join(alternatives) + ")"


def highlight_terms(query: str) -> list[str]:
    """What to mark in titles and snippets: the query words and their synonyms, longest first."""
    terms: set[str] = set()
    for word in query_words(query):
        terms.add(word)
        terms.update(synonyms_of(word))
    return sorted(terms, key=len, reverse=True)


def _spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    lowered = normalize(text)
    if len(lowered) != len(text):  # NFKC changed lengths; match on the raw text instead
        lowered = text.lower()
    taken = [False] * len(text)
    spans: list[tuple[int, int]] = []
    for term in terms:
        start = lowered.find(term)
        while start != -1:
            end = start + len(term)
            if not any(taken[start:end]):
                spans.append((start, end))
                for i in range(start, end):
                    taken[i] = True
            start = lowered.find(term, end)
    return sorted(spans)


def mark(text: str, terms: list[str]) -> str:
    """HTML-escape ``text`` and wrap each occurrence of a term in <mark>. The text is escaped
    piece by piece and the tags are ours, so the text cannot inject markup."""
    out: list[str] = []
    position = 0
    for start, end in _spans(text, terms):
        out.append(html.escape(text[position:start]))
        out.append("<mark>" + html.escape(text[start:end]) + "</mark>")
        position = end
    out.append(html.escape(text[position:]))
    return "".join(out)


def snippet(text: str, terms: list[str], *, length: int = 120) -> str:
    """A window of ``text`` around the first match, escaped and marked. Only the window is
    processed, so a 100,000-character regulation costs no more than a short article."""
    lowered = text.lower()
    first = min((i for i in (lowered.find(t) for t in terms) if i != -1), default=-1)
    if first == -1:
        start = 0
    else:
        # Step back over a quarter of the window, but not past the start of the line.
        line_start = text.rfind("\n", 0, first) + 1
        start = max(line_start, first - length // 4)
    window = text[start : start + length * 2]
    flat = " ".join(window.split())
    piece = flat[:length]
    more = start + length < len(text)
    return ("…" if start else "") + mark(piece, terms) + ("…" if more else "")


_TAGS = re.compile(r"<[^>]*>")


def html_to_text(marked: str) -> str:
    """Escaped HTML with <mark> (what the engines return) → the plain text it shows."""
    return html.unescape(_TAGS.sub("", marked))


def marked_to_html(text: str) -> str:
    """An engine's output with MARK_START/MARK_END markers → escaped HTML with <mark>."""
    escaped = html.escape(text)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(source: str) -> str:
    """Markdown → HTML without raw HTML, then cleaned by nh3 (links get rel=noopener)."""
    return nh3.clean(_MARKDOWN.render(source), link_rel="noopener noreferrer nofollow")


_MD_SYNTAX = re.compile(r"^#{1,6}\s+|[*_`>|]|!\[[^\]]*\]\([^)]*\)|\[([^\]]*)\]\([^)]*\)", re.M)


def plain_text(markdown: str) -> str:
    """Markdown reduced to its text, for indexing and snippets."""
    return _MD_SYNTAX.sub(lambda m: m.group(1) or "", markdown)


def pinyin_keys(title: str) -> tuple[str, str]:
    """Full pinyin and initials of a title's Han characters (中华人民共和国计量法 →
    zhonghuarenmingongheguojiliangfa, zhrmghgjlf); other characters are dropped."""
    han = "".join(re.findall(rf"[{_HAN}]", normalize(title)))
    if not han:
        return "", ""
    full = "".join(lazy_pinyin(han, style=Style.NORMAL, errors="ignore"))
    initials = "".join(lazy_pinyin(han, style=Style.FIRST_LETTER, errors="ignore"))
    return full, initials


def pinyin_suffixes(title: str) -> list[str]:
    """Every syllable-aligned suffix of the title's pinyin and initials (计量法 → jiliangfa,
    liangfa, fa, jlf, lf, f): Meilisearch only matches prefixes, so a suffix makes the middle of
    a title findable by a prefix."""
    han = "".join(re.findall(rf"[{_HAN}]", normalize(title)))
    if not han:
        return []
    syllables = lazy_pinyin(han, style=Style.NORMAL, errors="ignore")
    initials = [s[:1] for s in syllables]
    out = ["".join(syllables[i:]) for i in range(len(syllables))]
    out += ["".join(initials[i:]) for i in range(len(initials))]
    return out


def is_pinyin_query(query: str) -> bool:
    return bool(re.fullmatch(r"[a-z]+", normalize(query).replace(" ", "")))
