"""The demo shows the serious dishonesty list in a risk score: the demo taxi company, an owner site
of the registration demo, is listed by a demo notice, and the demo's scores (model version 2)
count it with the notice as evidence."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlmodel import col

from api.certificates import demo as certificates_demo
from api.instruments import demo as instruments_demo
from enforcement import demo as enforcement_demo
from enforcement.models import RiskScore
from notices import demo as notices_demo
from portal.db import Database
from portal.demo import load_accounts
from portal.settings import Settings

TAXI_USCC = "91610402MA6XY00036"  # 咸阳市秦都出租汽车有限公司 (api/instruments/demo.py)


async def test_the_demo_scores_a_listed_owner_with_the_listing(
    database: Database, settings: Settings
) -> None:
    async with database.transaction() as session:
        await load_accounts(session)
    # In the order of portal/domains.py: notices before enforcement, which scores every site.
    for module in (
        certificates_demo,
        instruments_demo,
        certificates_demo,
        notices_demo,
        enforcement_demo,
    ):
        async with database.transaction() as session:
            await module.load(session, settings)
    async with database.sessionmaker() as session:
        scores = (
            await session.scalars(select(RiskScore).where(col(RiskScore.current).is_(True)))
        ).all()
    assert scores
    assert {s.model_version for s in scores} == {2}
    (taxi,) = [s for s in scores if s.owner_uscc == TAXI_USCC]
    parts = {p["factor"]: p for p in taxi.breakdown}
    assert Decimal(parts["dishonesty_list"]["points"]) == 30
    (entry,) = taxi.inputs["dishonesty_list"]
    assert entry["decision_number"] == "咸市监信列〔2026〕2号"
    assert parts["dishonesty_list"]["evidence"] == [entry["url"]]
    others = [s for s in scores if s.owner_uscc != TAXI_USCC]
    assert all(s.inputs["dishonesty_list"] == [] for s in others)
