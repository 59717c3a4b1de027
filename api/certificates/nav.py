ITEMS = [
    {
        "href": "/certificates",
        "title": "证书查询",
        "description": "输入证书编号或出厂编号，或扫描器具上的二维码，核验检定证书真伪与有效期。",
    },
]
