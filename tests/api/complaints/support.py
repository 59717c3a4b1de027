"""Helpers shared by the complaints tests and others that file cases (fixtures: conftest.py)."""

from __future__ import annotations

from typing import Any


def report_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "report",
        "category": "unverified_instrument",
        "description": "菜市场东门第三家摊位的电子秤没有检定标志。",
        "business": {"name": "秦都区东门菜市场 刘记蔬菜", "address": "咸阳市秦都区人民东路"},
        "region_code": "610402",
        "extra": {"instrument_kind": "scale", "sticker_state": "missing"},
        "anonymous": True,
    }
    body.update(overrides)
    return body


def complaint_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "complaint",
        "category": "short_weight",
        "description": "买了两斤排骨，回家复秤只有一斤七两。",
        "business": {
            "name": "咸阳市秦都区张记肉铺",
            "address": "咸阳市秦都区人民路农贸市场 8 号",
            "uscc": "91610402MA6X8Y2K70",
        },
        "region_code": "610402",
        "extra": {"goods": "排骨", "claimed_quantity": 1000, "actual_quantity": 850},
        "complainant": {"name": "张三", "phone": "138 0013 8000"},
        "request": "退还差价",
    }
    body.update(overrides)
    return body
