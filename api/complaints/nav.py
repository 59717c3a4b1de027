ITEMS = [
    {
        "href": "/complaints/new",
        "title": "投诉举报",
        "description": "缺斤短两、计量器具未检定、作弊装置……拍照即可投诉举报，举报可匿名。",
    },
    {
        "href": "/complaints/track",
        "title": "进度查询",
        "description": "凭受理编号和查询码查看办理进度、答复与期限。",
    },
]
