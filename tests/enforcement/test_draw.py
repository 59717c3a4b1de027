"""The 双随机 draw on its own: deterministic from its inputs, reproduced by the standalone
verifier (scripts/verify_draw.py), which fails as soon as one candidate or the seed differs;
conflicting inspectors are never paired; the risk weighting favours higher bands."""

from __future__ import annotations

import copy
import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from enforcement import campaigns, draw

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "scripts" / "verify_draw.py"
SEED = "5f" * 32


def _candidates(n: int = 40) -> list[dict[str, Any]]:
    return [
        {
            "id": f"00000000-0000-4000-8000-{i:012d}",
            "name": f"检查对象{i}",
            "district": ["610402", "610403", "610404"][i % 3],
            "band": "high" if i % 5 == 0 else "low",
            "weight": 1,
        }
        for i in range(n)
    ]


INSPECTORS = [
    {"id": "ZF-001", "name": "张*", "district": "610402", "exclusions": []},
    {"id": "ZF-002", "name": "李*", "district": "610403", "exclusions": []},
    {"id": "ZF-003", "name": "王*", "district": "610404", "exclusions": []},
    {
        "id": "ZF-004",
        "name": "赵*",
        "district": "610481",
        "exclusions": ["00000000-0000-4000-8000-000000000001"],
    },
]
PARAMETERS = {"algorithm": draw.ALGORITHM, "sample_size": 10, "inspectors_per_site": 2}


def _published(seed: str = SEED, **changes: Any) -> dict[str, Any]:
    candidates = changes.get("candidates", _candidates())
    body = {
        "algorithm": draw.ALGORITHM,
        "parameters": PARAMETERS,
        "candidates": candidates,
        "inspectors": INSPECTORS,
        "commitment": draw.commitment(seed, candidates, INSPECTORS, PARAMETERS),
        "seed": seed,
        "result": draw.draw(seed, candidates, INSPECTORS, PARAMETERS),
    }
    return body


def _verify(tmp_path: Path, published: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "campaign.json"
    path.write_text(json.dumps(published, ensure_ascii=False), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(VERIFIER), str(path)], capture_output=True, text=True, check=False
    )


def test_the_draw_is_deterministic_and_the_verifier_reproduces_it(tmp_path: Path) -> None:
    published = _published()
    assert published["result"] == draw.draw(SEED, _candidates(), INSPECTORS, PARAMETERS)
    assert len(published["result"]) == 10
    assert len({r["id"] for r in published["result"]}) == 10
    done = _verify(tmp_path, published)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verified" in done.stdout


def test_the_commitment_is_sha256_of_the_seed_and_the_exact_lists() -> None:
    candidates = _candidates()
    expected = hashlib.sha256(
        draw.canonical(
            {
                "algorithm": draw.ALGORITHM,
                "seed": SEED,
                "candidates": hashlib.sha256(draw.canonical(candidates)).hexdigest(),
                "inspectors": hashlib.sha256(draw.canonical(INSPECTORS)).hexdigest(),
                "parameters": hashlib.sha256(draw.canonical(PARAMETERS)).hexdigest(),
            }
        )
    ).hexdigest()
    assert draw.commitment(SEED, candidates, INSPECTORS, PARAMETERS) == expected


def test_changing_one_candidate_changes_the_result_and_fails_verification(
    tmp_path: Path,
) -> None:
    published = _published()
    # A candidate swapped for another after the commitment: the lists no longer match it.
    tampered = copy.deepcopy(published)
    first = published["result"][0]["id"]
    swapped = next(c for c in tampered["candidates"] if c["id"] == first)
    swapped["id"] = "00000000-0000-4000-8000-999999999999"
    done = _verify(tmp_path, tampered)
    assert done.returncode == 1
    assert "commitment does not match" in done.stdout
    # Drawn honestly from the changed list, the result differs from the published one.
    changed = tampered["candidates"]
    assert draw.draw(SEED, changed, INSPECTORS, PARAMETERS) != published["result"]


def test_changing_the_seed_changes_the_result_and_fails_verification(tmp_path: Path) -> None:
    published = _published()
    other = "a0" * 32
    assert draw.draw(other, _candidates(), INSPECTORS, PARAMETERS) != published["result"]
    tampered = dict(published, seed=other)
    done = _verify(tmp_path, tampered)
    assert done.returncode == 1
    assert "commitment does not match" in done.stdout
    # A result not drawn from the committed seed fails even with the right commitment.
    forged = dict(published, result=draw.draw(other, _candidates(), INSPECTORS, PARAMETERS))
    done = _verify(tmp_path, forged)
    assert done.returncode == 1
    assert "different result" in done.stdout


def test_an_undrawn_campaign_does_not_verify(tmp_path: Path) -> None:
    done = _verify(tmp_path, dict(_published(), seed=None, result=None))
    assert done.returncode == 1
    assert "no seed" in done.stdout


@pytest.mark.parametrize("seed", [f"{n:064x}" for n in range(1, 30)])
def test_inspectors_never_go_to_their_own_district_or_an_excluded_site(seed: str) -> None:
    candidates = _candidates()
    for row in draw.draw(seed, candidates, INSPECTORS, dict(PARAMETERS, sample_size=40)):
        site = next(c for c in candidates if c["id"] == row["id"])
        assert len(row["inspectors"]) == 2
        for inspector_id in row["inspectors"]:
            inspector = next(i for i in INSPECTORS if i["id"] == inspector_id)
            assert inspector["district"] != site["district"]
            assert site["id"] not in inspector["exclusions"]


def test_risk_weighting_draws_higher_bands_more_often() -> None:
    """Over fixed seeds (deterministic), weight 8 against 1 draws the high band far more often
    than its share of the candidates (8 of 40) would."""
    uniform = _candidates()
    weighted = [dict(c, weight=8 if c["band"] == "high" else 1) for c in uniform]
    high = {c["id"] for c in uniform if c["band"] == "high"}
    seeds = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(200)]
    params = dict(PARAMETERS, sample_size=5)

    def share(candidates: list[dict[str, Any]]) -> float:
        drawn = [r["id"] for s in seeds for r in draw.draw(s, candidates, INSPECTORS, params)]
        return sum(d in high for d in drawn) / len(drawn)

    assert 0.1 < share(uniform) < 0.3  # 8 of 40 = 0.2
    assert share(weighted) > 0.6


def test_weights_must_be_powers_of_two_up_to_eight() -> None:
    with pytest.raises(ValueError, match="weight 3"):
        draw.site_key(SEED, "x", 3)


def test_the_portal_and_the_standalone_verifier_agree_on_weighted_draws(tmp_path: Path) -> None:
    weights = {"high": 8, "low": 2}
    candidates = [dict(c, weight=weights[c["band"]]) for c in _candidates(60)]
    published = _published(candidates=candidates)
    published["parameters"] = dict(PARAMETERS, weighting="risk_band", band_weights=weights)
    done = _verify(tmp_path, _recommitted(published))
    assert done.returncode == 0, done.stdout


def _recommitted(published: dict[str, Any]) -> dict[str, Any]:
    """What a bureau that controls the portal could publish after changing its lists: the
    commitment and the result recomputed honestly from the changed lists and the seed, so that
    commitment and redraw both match. The lists themselves must then be checked against the
    published rule."""
    forged = copy.deepcopy(published)
    seed = forged["seed"]
    lists = (forged["candidates"], forged["inspectors"], forged["parameters"])
    forged["commitment"] = draw.commitment(seed, *lists)
    forged["result"] = draw.draw(seed, *lists)
    for name, value in zip(("candidates", "inspectors", "parameters"), lists, strict=True):
        forged[f"{name}_digest"] = draw.digest(value)
    return forged


def test_the_verifier_refuses_a_weight_the_published_rule_does_not_give(tmp_path: Path) -> None:
    """A uniform campaign whose favoured site carries weight 8 (or a risk-weighted one whose
    low-band site carries the high band's weight) draws that site far more often; the lists are
    committed as they are, so only the rule catches it."""
    published = _published()
    published["parameters"] = dict(PARAMETERS, weighting="uniform", band_weights=None)
    published["candidates"][3]["weight"] = 8
    done = _verify(tmp_path, _recommitted(published))
    assert done.returncode == 1, done.stdout
    assert "weight" in done.stdout

    weights = {"high": 4, "medium": 2, "low": 1}
    published = _published()
    published["parameters"] = dict(PARAMETERS, weighting="risk_band", band_weights=weights)
    for c in published["candidates"]:
        c["weight"] = weights[c["band"]]
    assert _verify(tmp_path, _recommitted(published)).returncode == 0
    low = next(c for c in published["candidates"] if c["band"] == "low")
    low["weight"] = 8
    done = _verify(tmp_path, _recommitted(published))
    assert done.returncode == 1, done.stdout
    assert "weight" in done.stdout


def test_the_verifier_refuses_a_site_listed_twice(tmp_path: Path) -> None:
    """A site listed twice has two chances; the portal lists each site once, in id order."""
    published = _published()
    published["candidates"].append(dict(published["candidates"][5]))
    published["candidates"].sort(key=lambda c: c["id"])
    done = _verify(tmp_path, _recommitted(published))
    assert done.returncode == 1, done.stdout
    assert "more than once" in done.stdout


def test_the_verifier_refuses_an_inspector_listed_twice(tmp_path: Path) -> None:
    published = _published()
    published["inspectors"] = [*INSPECTORS, dict(INSPECTORS[0])]
    published["inspectors"].sort(key=lambda i: i["id"])
    done = _verify(tmp_path, _recommitted(published))
    assert done.returncode == 1, done.stdout
    assert "more than once" in done.stdout


def test_the_verifier_refuses_lists_committed_for_another_campaign(tmp_path: Path) -> None:
    """The parameters name the campaign and region they were committed for: a draw of another
    campaign (say, a more convenient earlier one) cannot be passed off as this one's."""
    published = _published()
    published["parameters"] = dict(
        PARAMETERS, campaign_id="00000000-0000-4000-8000-00000000000a", region="610402"
    )
    published = _recommitted(published)
    published["id"] = "00000000-0000-4000-8000-00000000000a"
    published["region_code"] = "610402"
    assert _verify(tmp_path, published).returncode == 0
    done = _verify(tmp_path, dict(published, id="00000000-0000-4000-8000-00000000000b"))
    assert done.returncode == 1, done.stdout
    assert "campaign" in done.stdout
    done = _verify(tmp_path, dict(published, region_code="610404"))
    assert done.returncode == 1, done.stdout
    assert "region" in done.stdout


@pytest.mark.parametrize(
    "change",
    [
        {"seed": "not hex"},
        {"seed": 42},
        {"candidates": "x"},
        {"candidates": [{"id": 1}]},
        {"parameters": {"sample_size": "ten"}},
        {"result": None, "candidates": [{"id": "a", "district": "1", "weight": 3}]},
    ],
)
def test_the_verifier_answers_malformed_input_with_failed_not_a_traceback(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    done = _verify(tmp_path, dict(_published(), **change))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("seed", range(20))
def test_understaffed_sites_are_those_the_pairwise_rule_finds(seed: int) -> None:
    """Counting per district and per exclusion (enforcement/campaigns.py) finds exactly the
    candidates that checking every inspector against every site would."""
    rng = random.Random(seed)
    districts = ["610402", "610403", "610404", "610481"]
    listed = [dict(c, district=rng.choice(districts)) for c in _candidates(60)]
    ids = [c["id"] for c in listed] + ["00000000-0000-4000-8000-999999999999"]
    pool = [
        {
            "id": f"ZF-{n}",
            "district": rng.choice(districts),
            # Repeated exclusions, exclusions of sites of the inspector's own district and of
            # sites not listed: none may count twice.
            "exclusions": [rng.choice(ids) for _ in range(rng.randint(0, 40))],
        }
        for n in range(rng.randint(1, 8))
    ]
    for per_site in (1, 2, 3):
        pairwise = [c for c in listed if sum(not draw.conflicts(i, c) for i in pool) < per_site]
        assert campaigns.understaffed(listed, pool, per_site) == pairwise
