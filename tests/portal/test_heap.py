"""portal/heap.py: a serving process freezes its start-up objects once the warm-up is done."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from portal import cli, heap
from portal.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # a test process must not keep what later becomes garbage


@pytest.mark.usefixtures("unfrozen")
async def test_settle_waits_for_the_warm_up_then_freezes() -> None:
    done = asyncio.Event()

    async def warm_up() -> None:
        await asyncio.sleep(0.05)
        done.set()

    async def fails() -> None:
        raise RuntimeError("a warm-up that failed does not keep the heap from settling")

    tasks = [asyncio.create_task(warm_up()), asyncio.create_task(fails())]
    settling = asyncio.create_task(heap.settle(tasks))
    await asyncio.sleep(0.01)
    assert gc.get_freeze_count() == 0  # still warming up
    await settling
    assert done.is_set()
    assert gc.get_freeze_count() > 1000


def test_serve_uses_the_standard_event_loop() -> None:
    """uvloop served some connections far later than others when saturated (p99 867 ms against
    48 ms for the same endpoint: README, Public pages under load)."""
    options = cli.uvicorn_options(Settings(), host="127.0.0.1", port=8000, workers=1, reload=False)
    assert options["loop"] == "asyncio"
