#!/usr/bin/env python3
"""Verify a published 双随机 draw (algorithm gongzhi-draw-v1), standard library only.

    python3 scripts/verify_draw.py campaign.json     # or - for standard input

campaign.json is what GET /api/v1/inspection-campaigns/{id} answers after the draw. The script
checks that the published commitment is SHA-256 of the seed and of the exact candidate,
inspector and parameter lists, that the lists follow the published rule (each site and
inspector once, each weight the one the weighting gives, committed for this campaign and
region), then draws again and compares with the published result. It is
an independent copy of enforcement/draw.py (docs/enforcement.md describes the steps), so it can
be read, and run, without the portal. Exit status 0: verified; 1: it does not verify.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from typing import Any

ALGORITHM = "gongzhi-draw-v1"
WEIGHTS = (1, 2, 4, 8)
SCALE = 8


def canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(
        "utf-8"
    )


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def commitment(seed: str, candidates: Any, inspectors: Any, parameters: Any) -> str:
    body = {
        "algorithm": ALGORITHM,
        "seed": seed,
        "candidates": digest(candidates),
        "inspectors": digest(inspectors),
        "parameters": digest(parameters),
    }
    return hashlib.sha256(canonical(body)).hexdigest()


def rank(seed: str, message: str) -> int:
    mac = hmac.new(bytes.fromhex(seed), message.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(mac[:16], "big")


def site_key(seed: str, candidate_id: str, weight: int) -> int:
    # u = (h + 1) / 2^128; key = u^(1/w); compared as key^8 * 2^1024, a whole number.
    if weight not in WEIGHTS:
        raise ValueError(f"weight {weight} is not one of {WEIGHTS}")
    exponent = SCALE // weight
    return pow(rank(seed, "site\n" + candidate_id) + 1, exponent) << (128 * (SCALE - exponent))


def conflicts(inspector: dict[str, Any], site: dict[str, Any]) -> bool:
    return inspector["district"] == site["district"] or site["id"] in inspector.get(
        "exclusions", []
    )


def draw(seed: str, candidates: list[Any], inspectors: list[Any], parameters: Any) -> list[Any]:
    ordered = sorted(
        candidates, key=lambda c: (-site_key(seed, c["id"], int(c.get("weight", 1))), c["id"])
    )
    result = []
    for site in ordered[: int(parameters["sample_size"])]:
        eligible = [i for i in inspectors if not conflicts(i, site)]
        eligible.sort(key=lambda i: (rank(seed, f"inspector\n{site['id']}\n{i['id']}"), i["id"]))
        chosen = [i["id"] for i in eligible[: int(parameters["inspectors_per_site"])]]
        result.append({"id": site["id"], "inspectors": chosen})
    return result


def expected_weight(parameters: dict[str, Any], candidate: dict[str, Any]) -> int:
    """The weight the published rule gives a candidate: 1 for a uniform draw, its band's weight
    for a risk-weighted one."""
    if parameters.get("weighting", "uniform") == "uniform":
        return 1
    return int(parameters["band_weights"][candidate["band"]])


def rule_problems(published: dict[str, Any]) -> list[str]:
    """The lists against the published rule. The commitment binds the lists as published, but
    whoever commits chooses them: a site listed twice, or a weight its band does not give, would
    be committed, drawn and reproduced like any other, and favour that site."""
    problems = []
    candidates, inspectors = published["candidates"], published["inspectors"]
    parameters = published["parameters"]
    for name, items in (("candidate site", candidates), ("inspector", inspectors)):
        ids = [item["id"] for item in items]
        if len(set(ids)) != len(ids):
            problems.append(f"a {name} is listed more than once")
    wrong = [c["id"] for c in candidates if c.get("weight", 1) != expected_weight(parameters, c)]
    if wrong:
        problems.append(
            f"{len(wrong)} candidate sites carry a weight the published weighting does not give"
            f" (first: {wrong[0]})"
        )
    for field, key in (("id", "campaign_id"), ("region_code", "region")):
        if (field in published or key in parameters) and published.get(field) != parameters.get(
            key
        ):
            problems.append(
                f"the lists were committed for {key} {parameters.get(key)!r},"
                f" not this campaign's {published.get(field)!r}"
            )
    return problems


def verify(published: dict[str, Any]) -> list[str]:
    """What does not verify; empty when everything does. Input that is not a campaign as the
    portal publishes it does not verify either (and says so, without a traceback)."""
    try:
        return _verify(published)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        return [f"not a published campaign: {type(exc).__name__}: {exc}"]


def _verify(published: dict[str, Any]) -> list[str]:
    if published.get("algorithm") != ALGORITHM:
        return [f"unknown algorithm {published.get('algorithm')!r}"]
    seed = published.get("seed")
    if not seed:
        return ["no seed published yet: the campaign has not been drawn"]
    if not isinstance(seed, str) or len(seed) != 64:
        return ["the seed is not 64 hexadecimal digits"]
    bytes.fromhex(seed)
    candidates, inspectors = published["candidates"], published["inspectors"]
    parameters = published["parameters"]
    problems = rule_problems(published)
    for name, value in (
        ("candidates_digest", candidates),
        ("inspectors_digest", inspectors),
        ("parameters_digest", parameters),
    ):
        if name in published and published[name] != digest(value):
            problems.append(f"{name} does not match the published list")
    if commitment(seed, candidates, inspectors, parameters) != published["commitment"]:
        problems.append("commitment does not match the seed and the lists")
    if draw(seed, candidates, inspectors, parameters) != published.get("result"):
        problems.append("the draw gives a different result from the published one")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    try:
        if argv[1] == "-":
            published = json.load(sys.stdin)
        else:
            with open(argv[1], encoding="utf-8") as fh:
                published = json.load(fh)
    except (OSError, ValueError) as exc:
        print("FAILED: cannot read the campaign:", exc)
        return 1
    problems = (
        verify(published)
        if isinstance(published, dict)
        else ["not a published campaign: not a JSON object"]
    )
    for problem in problems:
        print("FAILED:", problem)
    if not problems:
        drawn = len(published["result"])
        print(f"verified: commitment, seed and {drawn} drawn sites with their inspectors")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
