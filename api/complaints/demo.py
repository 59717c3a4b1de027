"""Demo cases in 咸阳's districts, in different states, with generated photos. The demo citizen
(citizen@gongzhi.demo) owns them, so logging in shows them without tracking tokens."""

from __future__ import annotations

import hashlib
import io
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from api.complaints.deadlines import flag_overdue
from api.complaints.intake import submit_case
from api.complaints.media import ingest_photo
from api.complaints.models import Case
from api.complaints.schemas import STAFF_ACTIONS, CaseCreate
from api.complaints.storage import temp_dir
from api.complaints.uploads import SpooledFile
from api.complaints.workflow import apply_action
from portal import clock
from portal.accounts.models import User
from portal.db import utcnow
from portal.settings import Settings


def demo_photo(seed: int, size: tuple[int, int] = (1200, 900)) -> bytes:
    """A JPEG that looks vaguely like a scale display: coloured background, a 'display' box."""
    image = Image.new("RGB", size, ((seed * 53) % 200 + 30, (seed * 97) % 200 + 30, 140))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.rectangle((w * 0.2, h * 0.3, w * 0.8, h * 0.6), fill=(20, 30, 20), outline=(255, 255, 255))
    draw.text((w * 0.25, h * 0.4), f"{seed:03d}.{seed * 7 % 100:02d} kg", fill=(80, 255, 80))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


async def _upload(session: AsyncSession, settings: Settings, data: bytes) -> str:
    fd, raw = tempfile.mkstemp(dir=temp_dir(settings))
    path = Path(raw)
    with open(fd, "wb") as fh:
        fh.write(data)
    spooled = SpooledFile(
        field="file", filename="demo.jpg", path=path, size=len(data), head=data[:64]
    )
    spooled._hash = hashlib.sha256(data)
    try:
        media = await ingest_photo(session, spooled, settings=settings, uploader=None)
    finally:
        path.unlink(missing_ok=True)
    return str(media.id)


DEMO_CASES: list[tuple[Any, ...]] = [
    # (kind, category, region, (business name, address[, uscc]), description, extra, actions)
    (
        "complaint",
        "short_weight",
        "610402",
        ("秦都区人民路农贸市场 王记水果摊", "咸阳市秦都区人民路农贸市场 12 号摊位"),
        "买了 2 斤苹果，回家用自家秤称只有 1 斤 6 两，摊主的电子秤显示 2.00 斤。",
        {"goods": "苹果", "claimed_quantity": 1000, "actual_quantity": 800, "amount_paid": 12},
        [],
    ),
    (
        "report",
        "unverified_instrument",
        "610404",
        ("渭城区北杜镇 李记粮油店", "咸阳市渭城区北杜镇中街"),
        "店里的电子计价秤没有检定合格标志，问店主说从来没检过。",
        {"instrument_kind": "scale", "sticker_state": "missing"},
        [("accept", {})],
    ),
    (
        "complaint",
        "short_quantity_package",
        "610403",
        ("杨陵区示范区 某超市", "咸阳市杨陵区康乐路"),
        "标注 500 克的挂面，实际称重只有 455 克，连续买了三包都不足。",
        {"product_name": "鸡蛋挂面", "labelled_quantity": "500g", "measured_quantity": "455g"},
        [("accept", {}), ("mediate", {"body": "已约双方于下周二到所调解。"})],
    ),
    (
        "report",
        "cheating_device",
        "610481",
        ("兴平市西城加油站", "咸阳市兴平市西城路 88 号", "91610481MA6X8Y2K7D"),
        "加油 200 元，油箱表显示明显不足，怀疑加油机加装了作弊装置。",
        {"instrument_kind": "fuel_dispenser", "device_description": "油枪计数快于实际出油"},
        [
            ("accept", {}),
            (
                "conclude",
                {
                    "finding": "substantiated",
                    "filing": "filed",
                    "body": "经检查，2 号加油机主板被改装，已立案查处。",
                },
            ),
        ],
    ),
    (
        "complaint",
        "other",
        "610422",
        ("三原县城关 某眼镜店", "咸阳市三原县城关镇北大街"),
        "验光结果与医院不一致，要求退款被拒。",
        {},
        [("reject", {"reason_code": "outside_remit", "body": "已告知向卫生健康部门反映。"})],
    ),
]


async def load(session: AsyncSession, settings: Settings) -> bool:
    if await session.scalar(select(Case.id).limit(1)) is not None:
        return False
    citizen = await session.scalar(select(User).where(User.email == "citizen@gongzhi.demo"))
    regulator = await session.scalar(select(User).where(User.email == "regulator@gongzhi.demo"))
    if citizen is None or regulator is None:
        return False
    now = utcnow()
    for index, (kind, category, region, business, description, extra, actions) in enumerate(
        DEMO_CASES
    ):
        media = [await _upload(session, settings, demo_photo(index * 2 + i)) for i in range(2)]
        data = CaseCreate.model_validate(
            {
                "kind": kind,
                "category": category,
                "description": description,
                "business": {
                    "name": business[0],
                    "address": business[1],
                    "uscc": business[2] if len(business) > 2 else None,
                },
                "region_code": region,
                "media": media,
                "extra": extra,
                "complainant": {"name": "张三", "phone": "13800138000"}
                if kind == "complaint"
                else None,
                "request": "退还差价并赔偿" if kind == "complaint" else None,
                "anonymous": kind == "report",
            }
        )
        submitted_at = now - timedelta(days=3 * (len(DEMO_CASES) - index))
        created, _ = await submit_case(
            session,
            data,
            settings=settings,
            user=citizen,
            client="demo",
            idempotency_key=None,
            now=submitted_at,
        )
        case = await session.scalar(
            select(Case).where(Case.tracking_number == created.tracking_number)
        )
        assert case is not None
        for step, (action, fields) in enumerate(actions, start=1):
            await apply_action(
                session,
                case.id,
                STAFF_ACTIONS.validate_python({"action": action, **fields}),
                settings=settings,
                actor=regulator,
                now=submitted_at + timedelta(days=step),
            )
    await flag_overdue(session, today=clock.local_date(now))
    return True
