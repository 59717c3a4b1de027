"""GCJ-02 / BD-09 → WGS-84 against published points."""

from __future__ import annotations

import pytest

from api.complaints.coords import from_wgs84, to_wgs84
from api.complaints.models import CoordSystem

# Test vectors published with eviltransform (WGS-84 → GCJ-02), Shanghai and Beijing.
KNOWN = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),
]


@pytest.mark.parametrize(("wgs", "gcj"), KNOWN)
def test_gcj02_to_wgs84_matches_published_points(wgs, gcj) -> None:
    lat, lng = to_wgs84(*gcj, CoordSystem.gcj02)
    assert lat == pytest.approx(wgs[0], abs=1e-6)
    assert lng == pytest.approx(wgs[1], abs=1e-6)
    assert from_wgs84(*wgs, CoordSystem.gcj02) == pytest.approx(gcj, abs=1e-9)


def test_bd09_round_trip_and_offset() -> None:
    wgs = (34.329, 108.709)  # 咸阳
    bd = from_wgs84(*wgs, CoordSystem.bd09)
    # Baidu's offset is roughly +0.006° lat / +0.011° lng here: a visible 1 km error if ignored.
    assert 0.004 < bd[0] - wgs[0] < 0.009
    assert 0.008 < bd[1] - wgs[1] < 0.02
    back = to_wgs84(*bd, CoordSystem.bd09)
    assert back == pytest.approx(wgs, abs=1e-6)


def test_wgs84_passes_through_and_outside_china_is_unchanged() -> None:
    assert to_wgs84(34.3, 108.7, CoordSystem.wgs84) == (34.3, 108.7)
    assert to_wgs84(48.85, 2.35, CoordSystem.gcj02) == pytest.approx((48.85, 2.35))
