"""The 双随机 draw, algorithm ``gongzhi-draw-v1``: deterministic from (seed, candidates,
inspectors, parameters), standard library only, so that anyone can reproduce it
(scripts/verify_draw.py is an independent copy; tests hold the two equal). docs/enforcement.md
describes it step by step.

1. canonical(x): JSON, keys sorted, no spaces, UTF-8 (``ensure_ascii=False``).
2. digest(x) = SHA-256(canonical(x)) in hex; commitment = SHA-256(canonical({"algorithm",
   "seed", "candidates": digest(candidates), "inspectors": digest(inspectors), "parameters":
   digest(parameters)})), published before the draw with the three lists, the seed withheld.
3. Each candidate c gets h = the first 16 bytes of HMAC-SHA256(key=seed bytes,
   msg="site\\n" + c.id) as an integer, u = (h + 1) / 2^128 in (0, 1], and the
   Efraimidis–Spirakis key u^(1/w) for its weight w (1 for a uniform draw; the band's weight,
   a power of two up to 8, for a risk-weighted one). The key is compared exactly, as the integer
   (h + 1)^(8/w) · 2^(128·(8 − 8/w)) (= key^8 · 2^1024), so no floating point is involved.
   The ``sample_size`` candidates with the largest keys are drawn (ties: smaller id first), in
   that order.
4. For each drawn site, the inspectors without a conflict (a district other than the site's,
   and the site not among their exclusions) are ranked by the first 16 bytes of
   HMAC-SHA256(seed, "inspector\\n" + site id + "\\n" + inspector id) (ties: smaller id), and the
   first ``inspectors_per_site`` go.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

ALGORITHM = "gongzhi-draw-v1"
WEIGHTS = (1, 2, 4, 8)
_SCALE = 8  # the largest weight: every exponent 8/w is a whole number


def canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(
        "utf-8"
    )


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def commitment(
    seed: str, candidates: Sequence[Any], inspectors: Sequence[Any], parameters: Any
) -> str:
    return hashlib.sha256(
        canonical(
            {
                "algorithm": ALGORITHM,
                "seed": seed,
                "candidates": digest(list(candidates)),
                "inspectors": digest(list(inspectors)),
                "parameters": digest(parameters),
            }
        )
    ).hexdigest()


def _rank(seed: str | bytes, message: str) -> int:
    # The seed's bytes once per draw, and hmac.digest (one C call, the same HMAC-SHA256): the
    # draw computes one per eligible inspector of each drawn site (bench/campaign.py).
    key = bytes.fromhex(seed) if isinstance(seed, str) else seed
    return int.from_bytes(hmac.digest(key, message.encode("utf-8"), "sha256")[:16], "big")


def site_key(seed: str | bytes, candidate_id: str, weight: int) -> int:
    """The exact Efraimidis–Spirakis key of a candidate, scaled to an integer (step 3)."""
    if weight not in WEIGHTS:
        raise ValueError(f"weight {weight} is not one of {WEIGHTS}")
    exponent = _SCALE // weight
    scaled: int = pow(_rank(seed, "site\n" + candidate_id) + 1, exponent)
    return scaled << (128 * (_SCALE - exponent))


def conflicts(inspector: dict[str, Any], site: dict[str, Any]) -> bool:
    """An inspector never goes to a site of their own district, nor to one they are excluded
    from (a relative works there, they inspected it last time, …)."""
    return inspector["district"] == site["district"] or site["id"] in inspector.get(
        "exclusions", []
    )


def draw(
    seed: str,
    candidates: Sequence[dict[str, Any]],
    inspectors: Sequence[dict[str, Any]],
    parameters: dict[str, Any],
) -> list[dict[str, Any]]:
    """The drawn sites in draw order, each with its inspectors' ids."""
    key = bytes.fromhex(seed)
    keyed = sorted(
        candidates, key=lambda c: (-site_key(key, c["id"], int(c.get("weight", 1))), c["id"])
    )
    result = []
    per_site = int(parameters["inspectors_per_site"])
    # draw.conflicts with each pool's exclusions as a set: a list of 200 scanned for each of 500
    # inspectors at each drawn site took a third of a draw's time (bench/campaign.py).
    pool = [(i, frozenset(i.get("exclusions", []))) for i in inspectors]
    for site in keyed[: int(parameters["sample_size"])]:
        eligible = [
            i for i, ex in pool if i["district"] != site["district"] and site["id"] not in ex
        ]
        eligible.sort(key=lambda i: (_rank(key, f"inspector\n{site['id']}\n{i['id']}"), i["id"]))
        result.append({"id": site["id"], "inspectors": [i["id"] for i in eligible[:per_site]]})
    return result
