"""Coordinates from Chinese map SDKs: GCJ-02 (高德, 腾讯) and BD-09 (百度) to WGS-84.

``prcoords`` (public domain) implements the published transforms; its ``*_bored`` inverses iterate
to centimetre precision instead of the one-step approximation that is off by metres.
"""

from __future__ import annotations

import warnings

import prcoords

from api.complaints.models import CoordSystem


def to_wgs84(lat: float, lng: float, system: CoordSystem) -> tuple[float, float]:
    if system is CoordSystem.wgs84:
        return lat, lng
    with warnings.catch_warnings():
        # Outside China both transforms are the identity; prcoords warns about it.
        warnings.simplefilter("ignore", UserWarning)
        point = prcoords.Coords(lat, lng)
        if not prcoords.sanity_in_china_p(point):
            return lat, lng  # the offsets apply inside China only
        if system is CoordSystem.gcj02:
            result = prcoords.gcj_wgs_bored(point)
        else:
            result = prcoords.bd_wgs_bored(point)
    return round(result.lat, 7), round(result.lon, 7)


def from_wgs84(lat: float, lng: float, system: CoordSystem) -> tuple[float, float]:
    """The inverse, for showing a stored point on a Chinese map SDK."""
    if system is CoordSystem.wgs84:
        return lat, lng
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        point = prcoords.Coords(lat, lng)
        result = prcoords.wgs_gcj(point) if system is CoordSystem.gcj02 else prcoords.wgs_bd(point)
    return result.lat, result.lon


# Three decimals of a degree: about 110 m north–south and 90–100 m east–west in China.
PUBLIC_DECIMALS = 3


def public_point(lat: float, lng: float) -> tuple[float, float]:
    """Where a case may be shown to anyone: its location rounded to about 100 m, enough for a map,
    not enough to single out a stall or a person. Everything public that is derived from a
    location (Open311's lat/long, the similar cases' distances) starts from this point, so no
    number of queries recovers more than it (issue 11 #5)."""
    return round(lat, PUBLIC_DECIMALS), round(lng, PUBLIC_DECIMALS)
