ITEMS = [
    {
        "href": "/credit",
        "title": "诚信评价",
        "description": "行业协会发布的计量诚信等级：评分依据、公示与异议、复核记录全部公开可查。",
    },
]
