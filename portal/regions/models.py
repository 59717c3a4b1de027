from __future__ import annotations

from sqlmodel import Field, SQLModel


class Region(SQLModel, table=True):
    """One administrative division. Reference data: loaded by a migration, never edited by users."""

    __tablename__ = "region"
    __table_args__ = {"info": {"reference": True}}

    code: str = Field(primary_key=True, max_length=6)
    name: str = Field(max_length=64)
    # 1 province level, 2 prefecture level, 3 county level
    level: int
    parent_code: str | None = Field(default=None, foreign_key="region.code", index=True)
    full_name: str = Field(max_length=200)
