"""Settings of the search domain (``GONGZHI_*`` variables, unchanged names)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends

from portal.deps import domain_settings
from portal.settings import DomainSettings


class SearchSettings(DomainSettings):
    search_backend: Literal["embedded", "meilisearch"] = "embedded"
    # While Meilisearch is down: "none" answers 503 search_unavailable; "embedded" keeps an
    # embedded index in step and answers from it (search/fallback.py).
    search_fallback: Literal["none", "embedded"] = "none"
    meili_url: str = "http://127.0.0.1:7700"
    meili_key: str = ""
    # The Meilisearch index name; the embedded engine's SQLite file (default: beside a SQLite
    # database, else in the storage directory); the regulations corpus used by the demo.
    meili_index: str = "gongzhi"
    meili_timeout_seconds: float = 10.0
    search_index_path: Path | None = None
    regulations_corpus: Path = (
        Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "regulations.jsonl.gz"
    )


SETTINGS = SearchSettings

SearchConfig = Annotated[SearchSettings, Depends(domain_settings(SearchSettings))]
