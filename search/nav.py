ITEMS = [
    {
        "href": "/search",
        "title": "检索",
        "description": "科普文章、行政处罚信息公示与计量政策法规，一框搜索，支持拼音。",
    },
]
