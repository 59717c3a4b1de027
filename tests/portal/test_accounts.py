"""Registration, login (JWT for apps, cookie for the portal), /users/me, staff accounts."""

from __future__ import annotations

import httpx

from portal.accounts.models import Role
from tests.support import TEST_PASSWORD, MakeUser, assert_problem


async def register(client: httpx.AsyncClient, email: str = "minzhong@example.cn") -> httpx.Response:
    return await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": "liang-cheng-2026", "display_name": "市民小王"},
    )


async def test_citizen_registers_and_logs_in_with_jwt(client: httpx.AsyncClient) -> None:
    response = await register(client)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["role"] == "citizen"
    assert created["is_superuser"] is False
    assert "hashed_password" not in created

    login = await client.post(
        "/api/v1/auth/jwt/login",
        data={"username": "minzhong@example.cn", "password": "liang-cheng-2026"},
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["email"] == "minzhong@example.cn"
    assert me.json()["display_name"] == "市民小王"


async def test_registration_cannot_choose_role_or_superuser(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": "sneaky@example.cn",
            "password": "liang-cheng-2026",
            "is_superuser": True,
            "role": "admin",
        },
    )
    assert response.status_code == 201
    assert response.json()["role"] == "citizen"
    assert response.json()["is_superuser"] is False


async def test_duplicate_registration_is_problem(client: httpx.AsyncClient) -> None:
    assert (await register(client)).status_code == 201
    assert_problem(await register(client), 400, "register_user_already_exists")


async def test_short_password_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": "a@example.cn", "password": "short"}
    )
    assert_problem(response, 422, "validation_error")


async def test_bad_credentials_are_problem(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.post(
        "/api/v1/auth/jwt/login", data={"username": "minzhong@example.cn", "password": "wrong-one"}
    )
    assert_problem(response, 400, "login_bad_credentials")


async def test_me_requires_authentication(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/users/me"), 401, "not_authenticated")
    bad = await client.get("/api/v1/users/me", headers={"Authorization": "Bearer not-a-token"})
    assert_problem(bad, 401, "not_authenticated")


async def test_cookie_login_for_the_portal(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.post(
        "/api/v1/auth/cookie/login",
        data={"username": "minzhong@example.cn", "password": "liang-cheng-2026"},
    )
    assert response.status_code == 204
    cookie = response.cookies.get("gongzhi_session")
    assert cookie
    assert "httponly" in response.headers["set-cookie"].lower()
    assert client.cookies.get("gongzhi_session") == cookie  # kept by the client like a browser
    me = await client.get("/api/v1/users/me")
    assert me.status_code == 200
    client.cookies.clear()
    assert (await client.get("/api/v1/users/me")).status_code == 401


async def test_portal_login_form_sets_cookie_and_redirects(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.post(
        "/login",
        data={"email": "minzhong@example.cn", "password": "liang-cheng-2026", "next": "/account"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    page = await client.get("/account")
    assert page.status_code == 200
    assert "minzhong@example.cn" in page.text


async def test_portal_login_refuses_open_redirect(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.post(
        "/login",
        data={
            "email": "minzhong@example.cn",
            "password": "liang-cheng-2026",
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/account"


async def test_portal_login_with_wrong_password_shows_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/login", data={"email": "x@example.cn", "password": "nope-nope"})
    assert response.status_code == 400
    assert "邮箱或密码错误" in response.text


async def test_portal_registration_form(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/register",
        data={"email": "form@example.cn", "password": "liang-cheng-2026", "display_name": "表单"},
    )
    assert response.status_code == 303
    me = await client.get("/account")
    assert "form@example.cn" in me.text


async def test_admin_creates_staff_and_non_admin_cannot(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers
) -> None:
    admin = await make_user(Role.admin, region="610000")
    regulator = await make_user(Role.regulator, region="610400")
    body = {
        "email": "new-regulator@example.cn",
        "password": TEST_PASSWORD,
        "role": "regulator",
        "region_code": "610402",
    }
    denied = await client.post(
        "/api/v1/admin/users", json=body, headers=await auth_headers(regulator)
    )
    assert_problem(denied, 403, "forbidden")
    created = await client.post("/api/v1/admin/users", json=body, headers=await auth_headers(admin))
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "regulator"
    login = await client.post(
        "/api/v1/auth/jwt/login",
        data={"username": "new-regulator@example.cn", "password": TEST_PASSWORD},
    )
    assert login.status_code == 200
    again = await client.post("/api/v1/admin/users", json=body, headers=await auth_headers(admin))
    assert_problem(again, 409, "email_taken")


async def test_institution_staff_needs_an_institution(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers
) -> None:
    admin = await make_user(Role.admin, region="610000")
    body = {
        "email": "lab@example.cn",
        "password": TEST_PASSWORD,
        "role": "institution",
        "region_code": "610400",
    }
    response = await client.post(
        "/api/v1/admin/users", json=body, headers=await auth_headers(admin)
    )
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["field"] == "organization_code"
    unknown_region = {**body, "region_code": "999999", "organization_code": "X"}
    response = await client.post(
        "/api/v1/admin/users", json=unknown_region, headers=await auth_headers(admin)
    )
    assert_problem(response, 422, "unknown_region")


async def test_account_page_names_every_role_and_the_region(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """Every role reads what it is and where, in Chinese: an owner's 角色 was empty and every
    account's 所属区域 a bare code (610402)."""
    expected = {
        Role.citizen: "公众",
        Role.owner: "使用单位",
        Role.institution: "检定机构",
        Role.regulator: "市场监管",
        Role.association: "行业协会",
        Role.editor: "编辑",
        Role.admin: "管理员",
    }
    assert set(expected) == set(Role)
    for role, label in expected.items():
        user = await make_user(role, region="610402")
        client.cookies.clear()
        login = await client.post(
            "/login", data={"email": user.email, "password": TEST_PASSWORD, "next": "/account"}
        )
        assert login.status_code == 303, login.text
        page = (await client.get("/account")).text
        assert f'<dd id="account-role">{label}</dd>' in page, role
        assert '<dd id="account-region">陕西省咸阳市秦都区（610402）</dd>' in page, role
