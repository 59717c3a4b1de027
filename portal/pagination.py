"""One shape for every list the API returns: ``Page[T]``, asked for with ``page`` and ``per_page``.

Every list endpoint takes ``PageParams`` (bounded: a page number past ``MAX_PAGE`` or a page size
past ``MAX_PER_PAGE`` is a 422, never a database overflow) and returns ``Page[T]`` with the total
and a link to the next page, so a mobile client pages through any list the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

T = TypeVar("T")

MAX_PAGE = 10_000
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class PageRequest:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def limit(self) -> int:
        return self.per_page


async def page_request(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="Items per page.")] = 20,
) -> PageRequest:
    return PageRequest(page=page, per_page=per_page)


PageParams = Annotated[PageRequest, Depends(page_request)]


def page_number(asked: str | None, *, last: int = MAX_PAGE) -> int:
    """A page's ``?page=`` as a page shows it: 1 to ``last``, anything else the first page.
    ASCII digits only, and few of them: ``str.isdigit`` is true of "²", and of 5,000 nines,
    both of which ``int`` refuses (a page answered 500)."""
    if asked is None or not (asked.isascii() and asked.isdigit()) or len(asked) > 6:
        return 1
    number = int(asked)
    return number if 1 <= number <= last else 1


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(ge=0)
    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    next: str | None = Field(
        default=None, description="The URL of the next page; absent on the last page."
    )

    @classmethod
    def of(
        cls, items: list[T], *, total: int, request: PageRequest, url: Request | None = None
    ) -> Page[T]:
        """A page of ``items``; with the incoming request, ``next`` links to the following page
        with the same query otherwise."""
        following = None
        if url is not None and request.offset + len(items) < total:
            following = str(url.url.include_query_params(page=request.page + 1))
        return cls(
            items=items, total=total, page=request.page, per_page=request.per_page, next=following
        )
