"""Demo data for ``gongzhi demo`` and ``make run``: organisations and users of every role in 咸阳市,
then each domain's own ``demo.load(session)``. Every loader is idempotent (it checks for its own
rows first), so running the command again, or after a new domain lands, only adds what is missing.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from portal import domains
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.accounts.schemas import OrganizationCreate, StaffUserCreate
from portal.accounts.service import create_organization, create_staff_user
from portal.db import Database
from portal.settings import Settings

DEMO_PASSWORD = "gongzhi-demo-2026"
MAX_PASSES = 3

ORGANIZATIONS = [
    OrganizationCreate(
        kind=OrganizationKind.institution,
        code="XYJC",
        name="咸阳市计量检定测试所",
        region_code="610400",
        authorisation_number="(陕)法计(2024)61040001号",
    ),
    OrganizationCreate(
        kind=OrganizationKind.institution,
        code="SXJL",
        name="陕西省计量科学研究院",
        region_code="610000",
        authorisation_number="(国)法计(2023)01061号",
    ),
    OrganizationCreate(
        kind=OrganizationKind.association,
        code="XYCPY",
        name="咸阳市成品油流通行业协会",
        region_code="610400",
        industry="成品油零售",
    ),
    OrganizationCreate(
        kind=OrganizationKind.association,
        code="XYSC",
        name="咸阳市农贸市场行业协会",
        region_code="610400",
        industry="农贸市场",
    ),
]

USERS = [
    ("admin@gongzhi.demo", Role.admin, "610000", None, "系统管理员"),
    ("regulator@gongzhi.demo", Role.regulator, "610400", None, "咸阳市市场监管局 王科长"),
    ("qindu@gongzhi.demo", Role.regulator, "610402", None, "秦都区市场监管局 李干事"),
    ("xian@gongzhi.demo", Role.regulator, "610100", None, "西安市市场监管局 赵干事"),
    ("institution@gongzhi.demo", Role.institution, "610400", "XYJC", "咸阳计量所 检定员 陈工"),
    ("sxjl@gongzhi.demo", Role.institution, "610000", "SXJL", "省计量院 检定员 周工"),
    ("association@gongzhi.demo", Role.association, "610400", "XYCPY", "成品油协会 秘书处"),
    ("editor@gongzhi.demo", Role.editor, "610400", None, "科普编辑 孙老师"),
    ("citizen@gongzhi.demo", Role.citizen, "610402", None, "热心市民"),
]


async def load_accounts(session: AsyncSession) -> bool:
    created = False
    for org in ORGANIZATIONS:
        exists = await session.scalar(select(Organization.id).where(Organization.code == org.code))
        if exists is None:
            await create_organization(session, org, actor=None)
            created = True
    for email, role, region, org_code, name in USERS:
        exists = await session.scalar(select(User.id).where(User.email == email))
        if exists is None:
            await create_staff_user(
                session,
                StaffUserCreate(
                    email=email,
                    password=DEMO_PASSWORD,
                    role=role,
                    region_code=region,
                    organization_code=org_code,
                    display_name=name,
                ),
                actor=None,
            )
            created = True
    return created


async def load_demo(settings: Settings) -> bool:
    """Load every domain's demo data; True if anything was added."""
    domains.import_models()
    database = Database.from_settings(settings)
    try:
        async with database.transaction() as session:
            created = await load_accounts(session)
        # A domain's demo may build on one loaded after it (the certificate registry's held
        # certificate needs the owners' registrations): the loaders, each idempotent, run again
        # until a pass adds nothing (bounded, should one always answer True).
        for _ in range(MAX_PASSES):
            added = False
            for _, module in domains.modules("demo"):
                async with database.transaction() as session:
                    added = bool(await module.load(session, settings)) or added
            created = created or added
            if not added:
                break
        return created
    finally:
        await database.dispose()
