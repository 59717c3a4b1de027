from portal.privacy import mask_person_name, public_owner_name


def test_individuals_are_masked_to_the_family_name() -> None:
    assert mask_person_name("张三") == "张*"
    assert mask_person_name("张三丰") == "张**"
    assert mask_person_name("欧阳娜娜") == "欧阳**"
    assert mask_person_name("王") == "王*"
    assert mask_person_name("John Smith") == "J*** S****"
    assert mask_person_name("  ") == ""


def test_enterprises_are_named_in_full() -> None:
    name = "咸阳市秦都区人民路农贸市场有限公司"
    assert public_owner_name(name, is_individual=False) == name
    assert public_owner_name("李秀兰", is_individual=True) == "李**"
