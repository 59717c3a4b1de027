"""The staffing check of a 双随机 campaign (does every candidate have enough inspectors without
a conflict?) at scale: ``campaigns.understaffed`` (counts per district and per exclusion) against
checking every inspector against every site with ``draw.conflicts`` — the baseline, the check
as first written — on the same synthetic lists, in the same run; then the draw itself.

    .venv/bin/python bench/campaign.py [--sites 5000] [--inspectors 500] [--exclusions 200]

The pairwise check grows with sites × inspectors (a campaign may list 200,000 sites and 500
inspectors: 10^8 pairs); keep --sites small enough for it to finish.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from enforcement import campaigns, draw  # noqa: E402

DISTRICTS = [f"6104{n:02d}" for n in (2, 3, 4, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 81)]


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = run()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=5_000)
    parser.add_argument("--inspectors", type=int, default=500)
    parser.add_argument("--exclusions", type=int, default=200)
    parser.add_argument("--sample", type=int, default=1_000)
    args = parser.parse_args()
    rng = random.Random(17)
    listed = sorted(
        (
            {"id": str(uuid.UUID(int=rng.getrandbits(128))), "district": rng.choice(DISTRICTS)}
            for _ in range(args.sites)
        ),
        key=lambda c: c["id"],
    )
    ids = [c["id"] for c in listed]
    pool = [
        {
            "id": f"ZF-{n:05d}",
            "district": rng.choice(DISTRICTS),
            "exclusions": sorted(rng.sample(ids, min(args.exclusions, len(ids)))),
        }
        for n in range(args.inspectors)
    ]
    print(f"load average: {os.getloadavg()}")
    print(f"{args.sites} sites, {args.inspectors} inspectors, {args.exclusions} exclusions each")
    baseline, slow = timed(
        lambda: [c for c in listed if sum(not draw.conflicts(i, c) for i in pool) < 2]
    )
    fast_time, fast = timed(lambda: campaigns.understaffed(listed, pool, 2))
    assert fast == slow, "the two checks disagree"
    print(f"pairwise check (baseline): {baseline:.3f} s")
    print(f"understaffed():            {fast_time:.3f} s  ratio {fast_time / baseline:.4f}")
    params = {"sample_size": min(args.sample, args.sites), "inspectors_per_site": 2}
    drawn, _ = timed(lambda: draw.draw("5f" * 32, listed, pool, params))
    print(
        f"draw of {params['sample_size']}:             {drawn:.3f} s  ratio {drawn / baseline:.4f}"
    )
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
