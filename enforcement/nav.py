"""Links for the navigation and home page: the public 双随机 campaigns."""

ITEMS = [
    {
        "href": "/inspections",
        "title": "双随机抽查",
        "description": "随机抽取检查对象和执法人员：抽取前公布承诺值，抽取后公布种子和结果，人人可复核。",
    },
]
