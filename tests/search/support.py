"""Helpers shared by the search tests (fixtures live in conftest.py)."""

from __future__ import annotations

import uuid


def unique_index() -> str:
    """A Meilisearch index name no other test uses."""
    return f"test_{uuid.uuid4().hex[:10]}"
