"""How the Meilisearch engine speaks HTTP (issue 12): its answers come uncompressed, since a
gzipped answer is sent chunked and its last chunk waits ~40 ms for the client's delayed ACK."""

from __future__ import annotations

from search.engine import SearchDocument, SearchQuery
from search.meili import MeiliEngine
from tests.search.meili import MeiliServer
from tests.search.support import unique_index


async def test_search_answers_are_not_compressed(meili_server: MeiliServer) -> None:
    engine = MeiliEngine(meili_server.url, meili_server.key, unique_index())
    try:
        await engine.setup()
        long = "计量器具的检定。" * 400  # an answer large enough for Meilisearch to compress
        await engine.index(
            [SearchDocument(kind="article", id="a1", title="检定", body=long, url="/articles/a1")]
        )
        async with engine._http().post(
            f"{engine.url}/indexes/{engine.uid}/search",
            json={"q": "检定", "attributesToRetrieve": ["*"]},
        ) as response:
            assert response.status == 200
            assert len(await response.read()) > 4000
            assert "content-encoding" not in response.headers
        assert [hit.id for hit in (await engine.search(SearchQuery(q="检定"))).hits] == ["a1"]
    finally:
        for uid in (engine.uid, engine.sections_uid):
            await engine._request("DELETE", f"/indexes/{uid}")
        await engine.close()
