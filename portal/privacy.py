"""Masking of individuals' personal data on anything that is not for handling staff.

Enterprises are named; individuals are masked (张三 → 张*, 13812341234 → 138****1234).
"""

from __future__ import annotations


def mask_person_name(name: str | None) -> str:
    """Keep the surname (first character), mask the rest: 张三 → 张*, 欧阳娜娜 → 欧***."""
    if not name:
        return ""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def mask_phone(phone: str | None) -> str:
    """Keep the first three and last four digits: 13812341234 → 138****1234."""
    if not phone:
        return ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
