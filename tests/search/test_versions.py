"""A regulation's issuing body, date and status (现行有效 / 已修改 / 已废止): read from the text,
stored on import, shown by the API, the search page and the regulation page (issue 12)."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from portal.db import Database
from search import service
from search.versions import RegulationStatus, read_version

# The opening lines of the corpus's two 计量法实施细则 and of Beijing's repeal decision.
OLD = (
    "# 中华人民共和国计量法实施细则\n\n1987年1月19日 国务院批准　\n\n1987年2月1日 国家计量局发布　\n\n"
    "2016年2月6日 《国务院关于修改部分行政法规的决定》第一次修订　\n\n"
    "2017年3月1日 《国务院关于修改和废止部分行政法规的决定》第二次修订　\n\n\n\n"
    "## 第一章 总则\n\n第一条 根据《中华人民共和国计量法》的规定，制定本细则。\n\n"
    "第二条 国家实行法定计量单位制度。"
)
NEW = OLD.replace(
    "第二次修订　\n\n",
    "第二次修订　\n\n2018年3月19日 《国务院关于修改和废止部分行政法规的决定》第三次修订　\n\n"
    "2022年3月29日 《国务院关于修改和废止部分行政法规的决定》第四次修订\n\n",
)
REPEAL = (
    "# 北京市人民代表大会常务委员会关于废止部分地方性法规的决定\n\n"
    "2016年11月25日 北京市第十四届人民代表大会常务委员会第三十一次会议通过\n\n"
    "北京市第十四届人民代表大会常务委员会第三十一次会议决定：\n\n"
    "二、废止《北京市反不正当竞争条例》（1994年7月22日北京市第十届人民代表大会常务委员会第十一次会议通过）"
)
REPEALED = (
    "# 北京市反不正当竞争条例\n\n"
    "1994年7月22日 北京市第十届人民代表大会常务委员会第十一次会议通过\n\n"
    "第一条 为了鼓励和保护公平竞争，制止不正当竞争行为，制定本条例。"
)
ROWS = [
    {"id": "jl-old", "title": "计量法实施细则", "category": "行政法规", "region": None,
     "date": "2018-03-19", "body": OLD},
    {"id": "jl-new", "title": "计量法实施细则", "category": "行政法规", "region": None,
     "date": "2022-03-29", "body": NEW},
    {"id": "bj-unfair", "title": "北京市反不正当竞争条例", "category": "地方法规",
     "region": "北京", "date": None, "body": REPEALED},
]  # fmt: skip
DECISION = {"id": "bj-repeal", "title": "北京市人民代表大会常务委员会关于废止部分地方性法规的决定",
            "category": "地方法规", "region": "北京", "date": "2016-11-25", "body": REPEAL}  # fmt: skip


def test_the_opening_lines_name_the_issuer_and_the_latest_date() -> None:
    assert read_version(NEW).issuer == "国家计量局"  # 国务院批准, 国家计量局发布
    assert read_version(NEW).version_date == date(2022, 3, 29)
    assert read_version(OLD).version_date == date(2017, 3, 1)
    assert read_version(REPEAL).issuer == "北京市人民代表大会常务委员会"
    council = "# 条例\n\n2001年12月11日 中华人民共和国国务院令第334号公布\n\n第一条 为了……"
    assert read_version(council).issuer == "国务院"
    court = "# 解释\n\n2014年12月18日 最高人民法院审判委员会第1636次会议通过\n\n2022年4月10日 施行"
    assert read_version(court) == read_version(court.replace("\n\n2022年4月10日 施行", ""))
    assert read_version("# 无题\n\n第一条 本条例自公布之日起施行。").issuer is None


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/search", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_versions_are_told_apart_everywhere(
    client, index_engine, database: Database, run_worker
) -> None:
    async with database.transaction() as session:
        await service.import_regulations(session, enumerate(ROWS, start=1))
    await run_worker()
    found = await search(client, q="计量法实施细则")
    assert [(h["status"], h["issuer"], h["date"]) for h in found["items"]] == [
        ("现行有效", "国家计量局", "2022-03-29"),
        ("已修改", "国家计量局", "2018-03-19"),
    ]
    beijing = (await search(client, q="反不正当竞争"))["items"][0]
    # One version and no repeal decision imported yet: the corpus does not say, so neither do we.
    assert (beijing["status"], beijing["date"]) == (None, "1994-07-22")

    # The repeal decision arrives in a later import: the law it names becomes 已废止.
    async with database.transaction() as session:
        report = await service.import_regulations(session, enumerate([DECISION], start=1))
    assert report.created == 1
    await run_worker()
    beijing = (await search(client, q="北京市反不正当竞争条例"))["items"][0]
    assert beijing["status"] == "已废止"
    api = (await client.get(f"/api/v1/regulations/{beijing['id']}")).json()
    assert (api["status"], api["issuer"]) == ("已废止", "北京市人民代表大会常务委员会")

    page = await client.get("/search", params={"q": "计量法实施细则"})
    assert page.text.index("现行有效") < page.text.index("已修改")
    assert "国家计量局" in page.text
    current = found["items"][0]
    regulation = await client.get(current["url"])
    assert "时效性" in regulation.text
    assert "现行有效" in regulation.text
    assert "制定机关" in regulation.text
    assert "国家计量局" in regulation.text
    assert "本法规的其他版本" in regulation.text
    assert f"/regulations/{found['items'][1]['id']}" in regulation.text
    assert "2018-03-19 版" in regulation.text
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert {"issuer", "status"} <= set(schema["SearchHit"]["properties"])
    assert {"issuer", "status"} <= set(schema["RegulationRead"]["properties"])
    assert RegulationStatus.repealed.value in str(schema)
