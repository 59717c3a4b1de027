"""Search benchmark: the regulations corpus in each engine.

Prints, in one run on one machine:
- indexing time of the 3,475 regulations into the embedded engine, tuned Meilisearch and
  Meilisearch with default settings;
- relevance on the judged query set (tests/search/judgements.py): MRR@10 and precision@3;
- p50/p95 latency over a fixed query list of: Meilisearch called directly (the same request the
  application sends), the API in front of it (``gongzhi serve``, HTTP), the embedded engine alone
  and the API in front of it; and the ratios API / engine;
- per query shape (one word, several words, a whole title, a 30-character sentence, a rare word,
  a very common word, pinyin, empty) over every combination of the API's filters (kind, region,
  date range, tag, page): p50/p95/max of the API on each engine and API ÷ engine (issue 12);
  Meilisearch "directly" twice: with httpx (the benchmark's own client, which also calls the API)
  and with the application's client (search/meili.py, aiohttp), the same requests.

    GONGZHI_REGULATIONS_CORPUS=../shared/corpus/regulations.jsonl.gz .venv/bin/python bench/search.py
    … bench/search.py --scale 10 --skip-meili
        # a tenfold corpus (copies with changed titles) beside the corpus itself, measured in
        # the same turns: p95 per shape on each and how it grew (issue 12: sub-linearly)
    … bench/search.py --skip-meili   # the embedded engine only
    … bench/search.py --meili-only   # tuned Meilisearch only: its judged latencies and shapes

Meilisearch is started from .cache/meilisearch (scripts/get-meilisearch.sh) on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from search import forgiving  # noqa: E402
from search.embedded import EmbeddedEngine  # noqa: E402
from search.engine import SearchDocument, SearchQuery  # noqa: E402
from search.meili import MeiliEngine  # noqa: E402
from search.settings import SearchSettings  # noqa: E402
from tests.search.judgements import JUDGEMENTS  # noqa: E402
from tests.search.meili import MeiliServer, find_binary, free_port  # noqa: E402
from tests.search.test_relevance import corpus_documents, evaluate  # noqa: E402

EXTRA_QUERIES = [
    "计量监督管理",
    "检定周期",
    "行政处罚",
    "消费者投诉",
    "食品安全",
    "市场监督管理局",
    "电子计价秤",
    "出租汽车计价器",
    "中华人民共和国计量法",
    "",
]
QUERIES = [judged.q for judged in JUDGEMENTS] + EXTRA_QUERIES
ROUNDS = 5

# Query shapes of issue 12: the slow ones of the report are in here (标准化法, 电子商务法,
# 浙江 反不正当竞争, the sentence-like 强制检定的工作计量器具检定管理).
SHAPES: dict[str, list[str]] = {
    "one word": ["标准化法", "电子商务法", "检定", "处罚"],
    "several words": ["浙江 反不正当竞争", "计量 监督 管理", "食品 安全 处罚"],
    "whole title": ["中华人民共和国计量法实施细则", "市场监督管理投诉举报处理暂行办法"],
    "30-char sentence": [
        "强制检定的工作计量器具检定管理办法规定用于贸易结算的计量器具应当定期检定",
        "经营者使用不合格的计量器具或者破坏计量器具准确度的应当如何处罚呢",
    ],
    "rare word": ["验光仪", "出租汽车计价器", "燃气表"],
    "common word": ["计量", "管理"],
    "pinyin": ["jiliangfa", "jlf", "dianzicheng"],
    "empty": [""],
}
FILTER_VALUES: dict[str, dict[str, str]] = {
    "kind": {"kind": "regulation"},
    "region": {"region": "上海"},
    "date": {"date_from": "2015-01-01", "date_to": "2022-12-31"},
    "tag": {"tag": "电子秤"},
    "page": {"page": "3"},
}


def filter_combinations() -> list[dict[str, str]]:
    names = list(FILTER_VALUES)
    combos: list[dict[str, str]] = []
    for n in range(len(names) + 1):
        for chosen in itertools.combinations(names, n):
            params: dict[str, str] = {}
            for name in chosen:
                params.update(FILTER_VALUES[name])
            combos.append(params)
    return combos


def as_query(q: str, params: dict[str, str]) -> SearchQuery:
    return SearchQuery(
        q=q,
        kind=params.get("kind"),  # type: ignore[arg-type]
        region=params.get("region"),
        date_from=date.fromisoformat(params["date_from"]) if "date_from" in params else None,
        date_to=date.fromisoformat(params["date_to"]) if "date_to" in params else None,
        tag=params.get("tag"),
        page=int(params.get("page", "1")),
    )


async def measure_shapes(
    calls: list[Callable[[str, dict[str, str]], Awaitable[object]]], rounds: int
) -> list[dict[str, list[float]]]:
    """Milliseconds per shape for each call: each query of the shape with every filter
    combination. The calls (the API and the engine it stands in front of) are interleaved,
    query by query, in turn first, so that the load of a shared machine, which drifts over
    seconds, weighs on both sides of a ratio alike rather than on whichever ran later."""
    combos = filter_combinations()
    for queries in SHAPES.values():  # warm-up
        for q in queries:
            for call in calls:
                await call(q, {})
    samples: list[dict[str, list[float]]] = [{shape: [] for shape in SHAPES} for _ in calls]
    turn = 0
    for _ in range(rounds):
        for shape, queries in SHAPES.items():
            for q in queries:
                for params in combos:
                    turn += 1
                    for n in range(len(calls)):
                        which = (n + turn) % len(calls)
                        started = time.perf_counter()
                        await calls[which](q, params)
                        samples[which][shape].append((time.perf_counter() - started) * 1000)
    return samples


def print_shapes(
    title: str,
    api: dict[str, list[float]],
    engine: dict[str, list[float]],
    hop: dict[str, list[float]] | None = None,
) -> None:
    """``hop``: a bare request to the same server (``GET /healthz``), measured between the
    others: what one more HTTP hop through the app costs, the part of API − engine that no
    search work can remove."""
    print(f"{title}: {len(filter_combinations())} filter combinations per query")
    print(
        f"  {'shape':<18} {'n':>5} {'API p50':>8} {'p95':>7} {'max':>7}"
        f" {'engine p50':>11} {'p95':>7} {'API/engine p50':>15} {'API-engine p50':>15}"
        + (f" {'hop p50':>8}" if hop else "")
    )
    for shape in SHAPES:
        a, e = api[shape], engine[shape]
        a50, e50 = statistics.median(a), statistics.median(e)
        print(
            f"  {shape:<18} {len(a):5d} {a50:8.1f} {percentile(a, 95):7.1f} {max(a):7.1f}"
            f" {e50:11.1f} {percentile(e, 95):7.1f} {a50 / e50:15.2f} {a50 - e50:15.1f}"
            + (f" {statistics.median(hop[shape]):8.1f}" if hop else "")
        )
    print()


def print_growth(
    scale: int,
    base: tuple[dict[str, list[float]], dict[str, list[float]]],
    grown: tuple[dict[str, list[float]], dict[str, list[float]]],
) -> None:
    print(f"growth of p95 from the corpus to x{scale} (embedded, ms)")
    print(
        f"  {'shape':<18} {'API x1':>7} {f'x{scale}':>7} {'ratio':>6}   {'engine x1':>9} {f'x{scale}':>7} {'ratio':>6}"
    )
    for shape in SHAPES:
        a1, a2 = percentile(base[0][shape], 95), percentile(grown[0][shape], 95)
        e1, e2 = percentile(base[1][shape], 95), percentile(grown[1][shape], 95)
        print(
            f"  {shape:<18} {a1:7.1f} {a2:7.1f} {a2 / a1:6.2f}   {e1:9.1f} {e2:7.1f} {e2 / e1:6.2f}"
        )
    print(f"  (linear growth would be a ratio of {scale})")
    print()


def scaled(documents: list[SearchDocument], scale: int) -> list[SearchDocument]:
    """``scale`` copies of the corpus, each copy's titles changed so that no two are equal."""
    out = list(documents)
    for copy in range(1, scale):
        out.extend(
            dataclasses.replace(d, id=f"{d.id}-{copy}", title=f"{d.title}（副本{copy}）")
            for d in documents
        )
    return out


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def measure(call: Callable[..., Awaitable[object]]) -> tuple[float, float]:
    for q in QUERIES:  # warm-up: caches, connections, jieba
        await call(q)
    samples = []
    for _ in range(ROUNDS):
        for q in QUERIES:
            started = time.perf_counter()
            await call(q)
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), percentile(samples, 95)


async def batches(documents: list[SearchDocument]) -> AsyncIterator[list[SearchDocument]]:
    for start in range(0, len(documents), 500):
        yield documents[start : start + 500]


def serve(env: dict[str, str], root: Path) -> tuple[subprocess.Popen[bytes], str]:
    gongzhi = str(Path(sys.executable).parent / "gongzhi")
    port = free_port()
    full = {
        **os.environ,
        "GONGZHI_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'bench.db'}",
        "GONGZHI_STORAGE_DIR": str(root / "storage"),
        "GONGZHI_RUN_WORKER_IN_PROCESS": "false",
        # No page cache: the same query comes back within its 5 s and would be measured as a
        # cache hit, which Meilisearch called directly never gets.
        "GONGZHI_PAGE_CACHE_SECONDS": "0",
        **env,
    }
    subprocess.run([gongzhi, "db", "upgrade"], env=full, check=True, capture_output=True)
    process = subprocess.Popen(
        [gongzhi, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("gongzhi serve did not start")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=1, help="copies of the corpus (10: tenfold)")
    parser.add_argument("--skip-meili", action="store_true", help="the embedded engine only")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the shape table")
    parser.add_argument(
        "--meili-only",
        action="store_true",
        help="tuned Meilisearch only: no embedded engine, no default settings, no relevance",
    )
    args = parser.parse_args()
    corpus = Path(
        os.environ.get("GONGZHI_REGULATIONS_CORPUS") or SearchSettings().regulations_corpus
    )
    if not corpus.exists():
        sys.exit(f"corpus not found at {corpus}; set GONGZHI_REGULATIONS_CORPUS")
    binary = find_binary()
    if args.meili_only and (args.skip_meili or args.scale > 1):
        sys.exit("--meili-only goes with neither --skip-meili nor --scale")
    if binary is None and not args.skip_meili:
        sys.exit("Meilisearch not found: run scripts/get-meilisearch.sh")
    originals = corpus_documents(corpus)
    documents = scaled(originals, args.scale)
    chars = sum(len(d.body) for d in documents)
    print(f"corpus: {len(documents)} regulations (x{args.scale}), {chars / 1e6:.1f} M characters")
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
        f"; queries: {len(QUERIES)} x {ROUNDS} rounds\n"
    )

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = None
        if not args.skip_meili:
            assert binary is not None
            server = MeiliServer(binary, root / "meili")
            (root / "meili").mkdir()
            server.start()
        servers: list[subprocess.Popen[bytes]] = []
        clients: list[httpx.AsyncClient] = []
        try:
            embedded = EmbeddedEngine(root / "index.sqlite")
            engines: list[tuple[str, Any]] = []
            print("indexing time")
            if not args.meili_only:
                await embedded.setup()
                started = time.perf_counter()
                await embedded.replace_all(batches(documents))
                embedded_index_s = time.perf_counter() - started
                print(f"  embedded (SQLite FTS5)      {embedded_index_s:7.1f} s")
                size = (root / "index.sqlite").stat().st_size / 1e6
                print(f"  embedded index file         {size:7.1f} MB")
                engines.append(("embedded", embedded))
            tuned = None
            if server is not None:
                tuned = MeiliEngine(server.url, server.key, "bench_tuned", timeout=60)
                default = MeiliEngine(
                    server.url, server.key, "bench_default", timeout=60, tuned=False
                )
                for label, engine in (("our settings", tuned), ("defaults", default)):
                    if (args.scale > 1 or args.meili_only) and engine is default:
                        continue
                    started = time.perf_counter()
                    await engine.setup()
                    await engine.replace_all(batches(documents))
                    print(f"  Meilisearch, {label:<14} {time.perf_counter() - started:7.1f} s")
                    engines.insert(0, (f"Meilisearch, {label}", engine))
            print()

            if args.scale == 1 and not args.meili_only:
                print(f"relevance over {len(JUDGEMENTS)} judged queries   MRR@10   P@3")
                for label, engine in engines:
                    mrr, p3 = await evaluate(engine)
                    print(f"  {label:<36} {mrr:6.3f} {p3:6.3f}")
                print()

            async def embedded_alone(q: str, params: dict[str, str] | None = None) -> object:
                return await embedded.search(as_query(q, params or {}))

            embedded_base = ""
            if not args.meili_only:
                embedded_api, embedded_base = serve(
                    {
                        "GONGZHI_SEARCH_BACKEND": "embedded",
                        "GONGZHI_SEARCH_INDEX_PATH": str(root / "index.sqlite"),
                    },
                    root / "api-embedded",
                )
                servers.append(embedded_api)
            api_http = httpx.AsyncClient(timeout=60)
            clients.append(api_http)

            def api(base: str) -> Callable[..., Awaitable[object]]:
                async def call(q: str, params: dict[str, str] | None = None) -> object:
                    response = await api_http.get(
                        base + "/api/v1/search", params={"q": q, **(params or {})}
                    )
                    response.raise_for_status()
                    return response.json()

                return call

            rows = []
            meili_direct = None
            meili_base = ""
            if server is not None and tuned is not None:
                # The application's own headers (no compression: search/meili.py).
                meili_http = httpx.AsyncClient(base_url=server.url, headers=tuned.headers())
                clients.append(meili_http)
                meili_engine = tuned

                async def post_httpx(path: str, body: dict[str, Any]) -> dict[str, Any]:
                    response = await meili_http.post(path, json=body)
                    response.raise_for_status()
                    answer: dict[str, Any] = response.json()
                    return answer

                async def post_app(path: str, body: dict[str, Any]) -> dict[str, Any]:
                    """Through the application's own client (search/meili.py: aiohttp)."""
                    answer: dict[str, Any] = await meili_engine._request("POST", path, json=body)
                    return answer

                def direct_with(
                    post: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]],
                ) -> Callable[..., Awaitable[object]]:
                    async def meili_one(query: SearchQuery) -> dict[str, Any]:
                        """One search of the application: the documents, then their sections."""
                        body = meili_engine.search_body(query)
                        answer = await post("/indexes/bench_tuned/search", body)
                        keys = [hit["key"] for hit in answer["hits"]]
                        if body["q"] and keys:
                            await post(
                                f"/indexes/{meili_engine.sections_uid}/search",
                                meili_engine.section_body(body["q"], keys),
                            )
                        return answer

                    async def direct(q: str, params: dict[str, str] | None = None) -> object:
                        """Every request the application sends for this query (search/routes.py
                        ``run_search``): a query with a correction (pinyin, a same-sounding
                        character) is searched as typed and as meant, at once, as the API does;
                        the baseline counted only the first until issue 12's second pass."""
                        query = as_query(q, params or {})
                        meant = forgiving.correction(q) if q else None
                        if meant is None:
                            return await meili_one(query)
                        typed, corrected = await asyncio.gather(
                            meili_one(query), meili_one(dataclasses.replace(query, q=meant))
                        )
                        return corrected if typed["totalHits"] == 0 else typed

                    return direct

                # httpx, as the benchmark's calls to the API; and the application's own client,
                # so that a ratio is not helped by the API's client being cheaper than httpx.
                meili_direct = direct_with(post_httpx)
                meili_direct_app = direct_with(post_app)

                meili_api, meili_base = serve(
                    {
                        "GONGZHI_SEARCH_BACKEND": "meilisearch",
                        "GONGZHI_MEILI_URL": server.url,
                        "GONGZHI_MEILI_KEY": server.key,
                        "GONGZHI_MEILI_INDEX": "bench_tuned",
                    },
                    root / "api-meili",
                )
                servers.append(meili_api)
                rows += [
                    ("Meilisearch alone (HTTP)", await measure(meili_direct)),
                    ("API on Meilisearch", await measure(api(meili_base))),
                ]
            if not args.meili_only:
                rows += [
                    ("embedded engine alone", await measure(embedded_alone)),
                    ("API on embedded", await measure(api(embedded_base))),
                ]
            print("latency, judged queries (ms)       p50      p95")
            for label, (p50, p95) in rows:
                print(f"  {label:<30} {p50:7.1f}  {p95:7.1f}")
            print()

            # With --scale, the corpus itself is the baseline of the growth, indexed and served
            # beside the tenfold one and measured in the same turns, query by query: measured
            # after it, the load of a shared machine had drifted, and one run's ratios said more
            # about the load than about the corpus.
            base_calls: list[Callable[..., Awaitable[object]]] = []
            if args.scale > 1:
                small = EmbeddedEngine(root / "base.sqlite")
                await small.setup()
                await small.replace_all(batches(originals))
                small_api, small_base = serve(
                    {
                        "GONGZHI_SEARCH_BACKEND": "embedded",
                        "GONGZHI_SEARCH_INDEX_PATH": str(root / "base.sqlite"),
                    },
                    root / "api-base",
                )
                servers.append(small_api)

                async def small_alone(q: str, params: dict[str, str] | None = None) -> object:
                    return await small.search(as_query(q, params or {}))

                base_calls = [api(small_base), small_alone]
            if not args.meili_only:
                api_grown, engine_grown, *measured_base = await measure_shapes(
                    [api(embedded_base), embedded_alone, *base_calls], args.rounds
                )
                grown = (api_grown, engine_grown)
                print_shapes("API on embedded (ms)", *grown)
                if measured_base:
                    base = (measured_base[0], measured_base[1])
                    print_shapes("API on embedded, the corpus x1 (ms)", *base)
                    print_growth(args.scale, base, grown)
            if meili_direct is not None:

                async def hop(q: str, params: dict[str, str] | None = None) -> object:
                    return (await api_http.get(meili_base + "/healthz")).raise_for_status()

                api_meili, direct_meili, direct_app, hops = await measure_shapes(
                    [api(meili_base), meili_direct, meili_direct_app, hop], args.rounds
                )
                print_shapes(
                    "API on Meilisearch (ms; engine = Meilisearch called directly with httpx;"
                    " hop = GET /healthz on the same server)",
                    api_meili,
                    direct_meili,
                    hops,
                )
                print_shapes(
                    "API on Meilisearch (ms; engine = Meilisearch called directly with the"
                    " application's client, aiohttp)",
                    api_meili,
                    direct_app,
                )
            print("targets: embedded API p95 ≤ 50 ms, max ≤ 200 ms; API/Meilisearch p50 ≤ 1.30")
            print(f"load average at the end {os.getloadavg()[0]:.1f}")
        finally:
            for client in clients:
                await client.aclose()
            for process in servers:
                process.terminate()
                process.wait(timeout=20)
            if server is not None:
                server.stop()


if __name__ == "__main__":
    asyncio.run(main())
