"""How each state of a certificate or a scanned sticker is shown: its colour (a CSS class in
static/css/certificates.css), icon, words and one-line meaning for a consumer, and what reporting
the instrument means in that state.

Every state has its own colour and icon, so a revoked or never-verified instrument never looks
like a harmless grey one, and the words say the same thing to people who cannot tell colours apart.
"""

from __future__ import annotations

from typing import NamedTuple

# The complaint category for an instrument used without a valid verification
# (api/complaints/categories.py), pre-selected when a report starts from such a sticker.
UNVERIFIED_CATEGORY = "unverified_instrument"


class State(NamedTuple):
    css: str  # the class of the verdict box and of the small badges
    text: str
    icon: str  # a name in certificates/_state_icon.html
    meaning: str
    report_primary: bool  # reporting is what a consumer should consider in this state
    complaint_category: str | None = None


STATES: dict[str, State] = {
    "valid": State(
        "state-valid", "合格有效", "check", "检定合格，在有效期内，可以正常使用。", False
    ),
    "expiring": State(
        "state-expiring",
        "即将到期",
        "clock",
        "检定合格，仍可使用，但很快到期，使用单位应按时送检。",
        False,
    ),
    "expired": State(
        "state-expired",
        "已过期",
        "hourglass",
        "检定有效期已过，不得再用于贸易结算等强制检定用途。",
        True,
        UNVERIFIED_CATEGORY,
    ),
    "failed": State(
        "state-failed",
        "不合格",
        "cross",
        "检定结论为不合格，这台器具不得使用。",
        True,
    ),
    "forged": State(
        "state-forged",
        "防伪验证失败",
        "warning",
        "二维码的防伪签名核验不通过，标志可能被篡改或伪造，请勿信任。",
        True,
    ),
    "revoked": State(
        "state-revoked",
        "已注销",
        "banned",
        "检定机构已注销这份证书，原检定结论作废，器具不得继续使用。",
        True,
        UNVERIFIED_CATEGORY,
    ),
    "superseded": State(
        "state-superseded",
        "已更正作废",
        "replaced",
        "这份证书已被更正后的新证书取代，请以新证书为准。",
        False,
    ),
    "none": State(
        "state-none",
        "未检定",
        "alert",
        "平台中没有这台器具的检定记录，不得用于贸易结算等强制检定用途。",
        True,
        UNVERIFIED_CATEGORY,
    ),
    "not_found": State(
        "state-unknown",
        "查无此证",
        "question",
        "平台中没有与此对应的证书或器具，标志可能有误或是伪造的。",
        True,
    ),
}
