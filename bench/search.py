"""Search benchmark: the regulations corpus in each engine.

Prints, in one run on one machine:
- indexing time of the 3,475 regulations into the embedded engine, tuned Meilisearch and
  Meilisearch with default settings;
- relevance on the judged query set (tests/search/judgements.py): MRR@10 and precision@3;
- p50/p95 latency over a fixed query list of: Meilisearch called directly (the same request the
  application sends), the API in front of it (``gongzhi serve``, HTTP), the embedded engine alone
  and the API in front of it; and the ratios API / engine.

    GONGZHI_REGULATIONS_CORPUS=../shared/corpus/regulations.jsonl.gz .venv/bin/python bench/search.py

Meilisearch is started from .cache/meilisearch (scripts/get-meilisearch.sh) on a free port.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.settings import Settings  # noqa: E402
from search.embedded import EmbeddedEngine  # noqa: E402
from search.engine import SearchDocument, SearchQuery  # noqa: E402
from search.meili import MeiliEngine  # noqa: E402
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
QUERIES = [q for q, _ in JUDGEMENTS] + EXTRA_QUERIES
ROUNDS = 5


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def measure(call: Callable[[str], Awaitable[object]]) -> tuple[float, float]:
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
    corpus = Path(os.environ.get("GONGZHI_REGULATIONS_CORPUS") or Settings().regulations_corpus)
    if not corpus.exists():
        sys.exit(f"corpus not found at {corpus}; set GONGZHI_REGULATIONS_CORPUS")
    binary = find_binary()
    if binary is None:
        sys.exit("Meilisearch not found: run scripts/get-meilisearch.sh")
    documents = corpus_documents(corpus)
    chars = sum(len(d.body) for d in documents)
    print(f"corpus: {len(documents)} regulations, {chars / 1e6:.1f} M characters")
    print(f"machine: {os.cpu_count()} cores; queries: {len(QUERIES)} x {ROUNDS} rounds\n")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = MeiliServer(binary, root / "meili")
        (root / "meili").mkdir()
        server.start()
        servers: list[subprocess.Popen[bytes]] = []
        try:
            embedded = EmbeddedEngine(root / "index.sqlite")
            await embedded.setup()
            started = time.perf_counter()
            await embedded.replace_all(batches(documents))
            embedded_index_s = time.perf_counter() - started

            tuned = MeiliEngine(server.url, server.key, "bench_tuned", timeout=60)
            default = MeiliEngine(server.url, server.key, "bench_default", timeout=60, tuned=False)
            index_s = {}
            for engine in (tuned, default):
                started = time.perf_counter()
                await engine.setup()
                await engine.replace_all(batches(documents))
                index_s[engine.tuned] = time.perf_counter() - started

            print("indexing time")
            print(f"  embedded (SQLite FTS5)      {embedded_index_s:7.1f} s")
            print(f"  Meilisearch, our settings   {index_s[True]:7.1f} s")
            print(f"  Meilisearch, defaults       {index_s[False]:7.1f} s")
            size = (root / "index.sqlite").stat().st_size / 1e6
            print(f"  embedded index file         {size:7.1f} MB\n")

            print(f"relevance over {len(JUDGEMENTS)} judged queries   MRR@10   P@3")
            for label, engine in (
                ("Meilisearch, our settings", tuned),
                ("Meilisearch, defaults", default),
                ("embedded", embedded),
            ):
                mrr, p3 = await evaluate(engine)  # type: ignore[arg-type]
                print(f"  {label:<36} {mrr:6.3f} {p3:6.3f}")
            print()

            meili_http = httpx.AsyncClient(
                base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}
            )

            async def meili_direct(q: str) -> object:
                response = await meili_http.post(
                    "/indexes/bench_tuned/search", json=tuned.search_body(SearchQuery(q=q))
                )
                response.raise_for_status()
                return response.json()

            async def embedded_alone(q: str) -> object:
                return await embedded.search(SearchQuery(q=q))

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
            embedded_api, embedded_base = serve(
                {
                    "GONGZHI_SEARCH_BACKEND": "embedded",
                    "GONGZHI_SEARCH_INDEX_PATH": str(root / "index.sqlite"),
                },
                root / "api-embedded",
            )
            servers.append(embedded_api)
            api_http = httpx.AsyncClient()

            def api(base: str) -> Callable[[str], Awaitable[object]]:
                async def call(q: str) -> object:
                    response = await api_http.get(base + "/api/v1/search", params={"q": q})
                    response.raise_for_status()
                    return response.json()

                return call

            rows = [
                ("Meilisearch alone (HTTP)", await measure(meili_direct)),
                ("API on Meilisearch", await measure(api(meili_base))),
                ("embedded engine alone", await measure(embedded_alone)),
                ("API on embedded", await measure(api(embedded_base))),
            ]
            print("latency (ms)                       p50      p95")
            for label, (p50, p95) in rows:
                print(f"  {label:<30} {p50:7.1f}  {p95:7.1f}")
            (m50, m95), (a50, a95) = rows[0][1], rows[1][1]
            (e50, e95), (ae50, ae95) = rows[2][1], rows[3][1]
            print(
                f"\nAPI / Meilisearch   p50 {a50 / m50:.2f}x   p95 {a95 / m95:.2f}x (target ≤ 1.30)"
            )
            print(f"API / embedded      p50 {ae50 / e50:.2f}x   p95 {ae95 / e95:.2f}x")
            print(f"embedded p95 {e95:.1f} ms (target < 20 ms)")
            await meili_http.aclose()
            await api_http.aclose()
        finally:
            for process in servers:
                process.terminate()
                process.wait(timeout=20)
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
