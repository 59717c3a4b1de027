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
