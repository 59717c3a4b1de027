ITEMS = [
    {
        "href": "/certificates",
        "title": "证书查询",
        "description": "输入证书编号或出厂编号，或扫描器具上的二维码，核验检定证书真伪与有效期。",
    },
    {
        "href": "/catalogue",
        "title": "强检目录",
        "description": "哪些计量器具必须强制检定、按哪部规程、多久检定一次。",
    },
]
