"""Demo content for 咸阳: outreach articles and, when the corpus is present,
the metrology-related regulations (a subset, so that ``make run`` stays fast)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from portal import facts
from portal.db import utcnow
from portal.jsonlines import read_jsonl
from portal.settings import Settings
from search import service
from search.models import Article, ArticleStatus
from search.settings import SearchSettings

ARTICLES = [
    (
        "买菜时如何识别一台合格的电子秤",
        "看检定标志、看零位、看显示，三步判断电子计价秤是否合格。",
        """## 一看检定标志

用于贸易结算的电子计价秤属于**强制检定**的计量器具，应当贴有法定计量检定机构出具的检定合格标志，
标志上有检定日期和有效期。用手机扫描标志上的二维码，可以在本平台核验证书真伪。

## 二看零位

空秤时显示应为 0.000。若空秤显示负数或不归零，可能被调过。

## 三看显示

顾客一侧的显示屏应清晰可见，单价、重量、金额三项齐全。发现缺斤短两，可拨打 12315 投诉。
""",
        ["电子秤", "强制检定", "消费提示"],
    ),
    (
        "加油机作弊的常见手法与识别",
        "加油机计量作弊多通过加装作弊装置实现，消费者可从几个细节发现异常。",
        """加油机属于强制检定的工作计量器具，检定周期一般为 6 个月。不法经营者可能通过加装**作弊装置**、
修改主板程序等方式使加油量少于显示量。

- 加油前确认加油机显示归零；
- 留意加油机上的检定合格标志和铅封是否完好；
- 对加油量有疑问，可要求加油站用标准量器现场核验。

咸阳市市场监督管理局定期开展加油机专项检查，查处结果在本平台公示。
""",
        ["加油机", "作弊装置"],
    ),
    (
        "出租车计价器：乘客应知道的三件事",
        "出租汽车计价器须经检定合格方可使用，乘客可以这样保护自己。",
        """出租汽车计价器是强制检定的计量器具。乘车时请注意：

1. 计价器应在起步时开启，空车牌应放倒；
2. 计价器上应有有效的检定合格标志；
3. 下车索要发票，发票上有里程和金额，便于投诉时举证。
""",
        ["计价器", "出租车"],
    ),
    (
        "家用血压计需要定期检定吗",
        "医疗卫生机构使用的血压计属于强制检定范围，家用血压计建议定期校准。",
        """用于医疗卫生的血压计、血压表属于强制检定目录中的计量器具，医院、诊所使用的血压计应按周期检定。
家庭自用的电子血压计不在强制检定范围内，但建议每年到计量技术机构校准一次，以免读数偏差影响判断。
""",
        ["血压计", "健康"],
    ),
    (
        "什么是强制检定？一文读懂计量器具管理",
        "《计量法》规定，用于贸易结算、安全防护、医疗卫生、环境监测的计量器具实行强制检定。",
        """根据《中华人民共和国计量法》，县级以上人民政府计量行政部门对社会公用计量标准器具，
以及用于贸易结算、安全防护、医疗卫生、环境监测方面列入强制检定目录的工作计量器具，实行**强制检定**。
未按照规定申请检定或者检定不合格继续使用的，责令停止使用，可以并处罚款。
""",
        ["强制检定", "计量法"],
    ),
]

# Metrology and enforcement rules a visitor of this portal looks for first.
REGULATION_KEYWORDS = ("计量", "投诉举报", "行政处罚信息公示", "产品质量法", "消费者权益保护")


async def load(session: AsyncSession, settings: Settings) -> bool:
    created = False
    if await session.scalar(select(Article.id).limit(1)) is None:
        now = utcnow()
        for days, (title, summary, body, tags) in enumerate(ARTICLES):
            session.add(
                Article(
                    title=title,
                    summary=summary,
                    body=body,
                    tags=tags,
                    author_name="科普编辑 孙老师",
                    region_code="610400",
                    status=ArticleStatus.published,
                    published_at=now - timedelta(days=3 * days + 1),
                )
            )
        await session.flush()
        ids = list(await session.scalars(select(Article.id)))
        await facts.enqueue_index(session, "article", ids)
        created = True
    corpus = settings.of(SearchSettings).regulations_corpus
    if corpus.exists():
        rows = [
            (number, value)
            for number, value in read_jsonl(corpus)
            if any(k in str(value.get("title", "")) for k in REGULATION_KEYWORDS)
        ]
        report = await service.import_regulations(session, rows)
        created = created or report.created > 0
    return created
