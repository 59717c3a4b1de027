"""Personal data is kept no longer than needed: a finished case's submitter data is erased after
the retention period (``GONGZHI_COMPLAINT_PERSONAL_DATA_RETENTION_DAYS``), by a daily job.

个人信息保护法 第十九条: 个人信息的保存期限应当为实现处理目的所必要的最短时间. What is erased: the
name, phone (and its search hash), ID number, address and e-mail of every party. What stays: the
case itself (the matter, the business, the finding), which the bureau's statistics and the credit
facts rely on, and the audit trail, which records the erasure.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints.models import Case, CaseParty, CaseStatus
from portal.audit.service import record

# Finished: nothing more will be asked of the submitter (a reopened case is open again). A
# concluded case that staff never closed counts from its conclusion.
FINISHED = (CaseStatus.concluded, CaseStatus.closed, CaseStatus.rejected, CaseStatus.merged)


async def erase_expired_personal_data(
    session: AsyncSession, *, now: datetime, retention_days: int, batch: int = 500
) -> int:
    """Erase the parties' personal data of cases finished more than ``retention_days`` ago;
    returns how many cases. Idempotent: an erased case is not touched again."""
    cutoff = now - timedelta(days=retention_days)
    finished_at = func.coalesce(col(Case.closed_at), col(Case.concluded_at), col(Case.updated_at))
    cases = list(
        await session.scalars(
            select(Case)
            .where(
                col(Case.status).in_([s.value for s in FINISHED]),
                col(Case.personal_data_erased_at).is_(None),
                finished_at < cutoff,
            )
            .limit(batch)
        )
    )
    for case in cases:
        parties = list(
            await session.scalars(select(CaseParty).where(col(CaseParty.case_id) == case.id))
        )
        for party in parties:
            party.name = None
            party.set_phone(None)
            party.id_number = None
            party.address = None
            party.email = None
        case.personal_data_erased_at = now
        await record(
            session,
            actor=None,
            action="case.personal_data.erase",
            entity_type="case",
            entity_id=case.id,
            region_code=case.region_code,
            before={"parties": len(parties)},
            after={"erased_at": now, "retention_days": retention_days},
        )
    await session.flush()
    return len(cases)
