"""Bulk import: encodings, XLSX, JSON Lines, Chinese headers, row errors, idempotence, the CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from api.certificates import imports
from api.certificates.catalogue import catalogue
from api.certificates.models import Certificate
from api.certificates.settings import CertificatesSettings
from portal.accounts.models import Role, User
from portal.db import Database
from portal.settings import Settings
from tests.api.certificates.support import days, valid_uscc
from tests.support import assert_problem, workbook_with_a_row_on_the_last_line

CN_HEADER = "证书编号,器具类别,型号规格,出厂编号,制造单位,送检单位,统一社会信用代码,使用地址,行政区划代码,检定结论,检定日期,有效期至,检定员"


def cn_row(number: str, serial: str, **changes: str) -> str:
    values = {
        "number": number,
        "category": "电子计价秤",
        "model": "ACS-15",
        "serial": serial,
        "maker": "上海友声衡器有限公司",
        "owner": "咸阳市秦都区人民路农贸市场有限公司",
        "uscc": valid_uscc(),
        "address": "人民路农贸市场",
        "region": "610402",
        "conclusion": "合格",
        "verified": days(-10).replace("-", "/"),
        "until": days(355),
        "verifier": "陈工",
    }
    values.update(changes)
    return ",".join(values.values())


async def _import(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, content: bytes
) -> httpx.Response:
    return await client.post(
        "/api/v1/certificates/import", files={"file": (name, content)}, headers=headers
    )


async def _count(database: Database) -> int:
    async with database.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Certificate)) or 0)


async def test_gb18030_csv_with_chinese_headers_and_bad_rows(
    client: httpx.AsyncClient,
    database: Database,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    lines = [
        CN_HEADER,
        cn_row("G-1", "S1"),
        cn_row("G-2", "S2", owner="张三", uscc=""),
        cn_row("G-3", "S3", uscc="91610402MA6XY00019"),  # wrong check digit
        cn_row("G-4", "S4", category="游标卡尺"),  # not in the catalogue
        cn_row("G-5", "S5", verified="2026-13-45"),
        cn_row("G-6", "S6", until=days(-400)),  # before the verification
        cn_row("", "S7"),
        cn_row("G-8", "S8", region="999999"),
    ]
    content = ("\r\n".join(lines) + "\r\n").encode("gb18030")
    headers = await auth_headers(institution_user)
    response = await _import(client, headers, "证书.csv", content)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["total_rows"], report["created"], report["failed"]) == (8, 2, 6)
    errors = {(e["line"], e["column"], e["code"]) for e in report["errors"]}
    assert errors == {
        (4, "owner_uscc", "invalid_uscc"),
        (5, "category_code", "unknown_category"),
        (6, "verified_on", "invalid_date"),
        (7, "valid_until", "valid_until_before_verified_on"),
        (8, "number", "required"),
        (9, "region_code", "unknown_region"),
    }
    assert all(e["reason_zh"] for e in report["errors"])
    # Issue 14: each error names the column as this file's header did, not category_code.
    assert {e["column"]: e["header"] for e in report["errors"]} == {
        "owner_uscc": "统一社会信用代码",
        "category_code": "器具类别",
        "verified_on": "检定日期",
        "valid_until": "有效期至",
        "number": "证书编号",
        "region_code": "行政区划代码",
    }
    assert await _count(database) == 2  # none of the bad rows were stored
    owner = (await client.get("/api/v1/certificates/G-2")).json()["instrument"]
    assert owner["owner_name"] == "张*"

    again = (await _import(client, headers, "证书.csv", content)).json()
    assert (again["created"], again["unchanged"], again["failed"]) == (0, 2, 6)
    assert await _count(database) == 2


async def test_utf8_bom_csv_english_headers_default_validity_and_conflict(
    client: httpx.AsyncClient,
    database: Database,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    settings: Settings,
) -> None:
    csv_text = (
        "number,kind,category_code,serial,owner_name,owner_uscc,region_code,verified_on,valid_until\n"
        f"U-1,certificate,fuel-dispenser,N1,中国石化销售股份有限公司陕西咸阳石油分公司,{valid_uscc()},610404,2026-01-15,\n"
        "U-2,notice,fuel-dispenser,N2,某加油站,,610404,2026-01-15,\n"
    )
    headers = await auth_headers(institution_user)
    report = (await _import(client, headers, "c.csv", b"\xef\xbb\xbf" + csv_text.encode())).json()
    assert report["created"] == 2, report
    # no valid_until: the fuel-dispenser cycle (6 months) of JJG 443-2023, from the catalogue
    assert catalogue().by_code["fuel-dispenser"].cycle(date(2026, 1, 15), {}).months == 6
    u1 = (await client.get("/api/v1/certificates/U-1")).json()
    assert u1["valid_until"] == "2026-07-14"
    assert u1["regulation"] == "JJG 443-2023"
    assert (await client.get("/api/v1/certificates/U-2")).json()["status"] == "failed"

    changed = csv_text.replace("2026-01-15,\nU-2", "2026-01-16,\nU-2")
    report = (await _import(client, headers, "c.csv", changed.encode())).json()
    assert (report["created"], report["unchanged"], report["failed"]) == (0, 1, 1)
    assert report["errors"][0]["code"] == "number_taken"
    assert report["errors"][0]["line"] == 2


async def test_xlsx_and_json_lines(
    client: httpx.AsyncClient,
    database: Database,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    from datetime import date

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(
        ["证书编号", "器具类别代码", "出厂编号", "送检单位", "行政区划代码", "检定日期", "有效期至"]
    )
    sheet.append(
        ["X-1", "taximeter", 20230001, "王师傅", "610402", date(2026, 3, 1), date(2027, 2, 28)]
    )
    sheet.append(["X-2", "taximeter", 20230002, "王师傅", "610402", "not a date", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    headers = await auth_headers(institution_user)
    report = (await _import(client, headers, "book.xlsx", buffer.getvalue())).json()
    assert (report["created"], report["failed"]) == (1, 1), report
    assert report["errors"][0]["line"] == 3
    x1 = (await client.get("/api/v1/certificates/X-1")).json()
    assert x1["instrument"]["serial"] == "20230001"  # a number cell, not "20230001.0"
    assert x1["valid_until"] == "2027-02-28"

    jsonl = "\n".join(
        [
            json.dumps(
                {
                    "number": "J-1",
                    "category_code": "lensmeter",
                    "serial": "L1",
                    "owner_name": "咸阳明视眼镜有限公司",
                    "region_code": "610404",
                    "verified_on": days(-5),
                },
                ensure_ascii=False,
            ),
            "{not json",
            json.dumps(
                {
                    "证书编号": "J-3",
                    "器具类别": "血压计",
                    "出厂编号": "B3",
                    "送检单位": "咸阳市中心医院",
                    "行政区划代码": "610402",
                    "检定日期": days(-5),
                },
                ensure_ascii=False,
            ),
        ]
    )
    report = (await _import(client, headers, "rows.jsonl", jsonl.encode())).json()
    assert (report["created"], report["failed"]) == (2, 1), report
    assert report["errors"][0]["line"] == 2


async def test_a_huge_header_is_named_briefly_in_every_error(
    client: httpx.AsyncClient,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    """Attack review: a 120,000-character header (in brackets, so it still maps to 检定日期) was
    repeated in each error of its column: 137 KB of file gave a 36 MB answer."""
    header = CN_HEADER.replace("检定日期", "检定日期（" + "A" * 120_000 + "）")
    lines = [header] + [cn_row(f"H-{i}", f"SH{i}", verified="notadate") for i in range(50)]
    response = await _import(
        client, await auth_headers(institution_user), "c.csv", "\n".join(lines).encode()
    )
    assert response.status_code == 200, response.text[:500]
    errors = response.json()["errors"]
    assert len(errors) == 50
    assert all(len(e["header"]) <= 40 and e["header"].startswith("检定日期") for e in errors)
    assert len(response.content) < 50_000


async def test_unreadable_files_and_roles(
    client: httpx.AsyncClient,
    institution_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    headers = await auth_headers(institution_user)
    missing = await _import(client, headers, "a.csv", "证书编号,出厂编号\n1,2\n".encode())
    assert_problem(missing, 422, "import_file_unsupported")
    # The missing columns are named as an institution's file names them.
    assert "器具类别代码、使用单位、行政区划代码、检定日期" in missing.json()["detail_zh"]
    assert "category_code" not in missing.json()["detail_zh"]
    assert_problem(
        await _import(client, headers, "a.xlsx", b"PK\x03\x04 broken"),
        422,
        "import_file_unsupported",
    )
    assert_problem(
        await _import(client, headers, "a.pdf", b"%PDF-1.4"), 422, "import_file_unsupported"
    )
    regulator = await make_user(Role.regulator)
    assert_problem(
        await _import(client, await auth_headers(regulator), "a.csv", b"x"), 403, "forbidden"
    )
    assert_problem(await _import(client, {}, "a.csv", b"x"), 401)


def test_cli_import(tmp_path: Path) -> None:
    """``gongzhi certificates import`` against a fresh SQLite database, run twice."""
    env = {
        **os.environ,
        "GONGZHI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "GONGZHI_SIGNING_KEY_FILE": str(tmp_path / "key.pem"),
    }
    gongzhi = str(Path(sys.executable).parent / "gongzhi")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [gongzhi, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    assert run("db", "upgrade").returncode == 0
    assert (
        run(
            "org",
            "create",
            "--kind",
            "institution",
            "--code",
            "XYJC",
            "--name",
            "咸阳市计量检定测试所",
            "--region",
            "610400",
        ).returncode
        == 0
    )
    path = tmp_path / "certs.csv"
    path.write_bytes(
        (
            "\n".join([CN_HEADER, cn_row("C-1", "S1"), cn_row("C-2", "S2", region="1")]) + "\n"
        ).encode("gb18030")
    )
    first = run("certificates", "import", str(path), "--institution", "XYJC")
    assert first.returncode == 0, first.stderr
    assert "created 1" in first.stdout and "failed 1" in first.stdout  # noqa: PT018
    assert "行 line 3 [region_code]" in first.stdout
    second = run("certificates", "import", str(path), "--institution", "XYJC")
    assert "created 0" in second.stdout and "unchanged 1" in second.stdout  # noqa: PT018
    missing = run("certificates", "import", str(path), "--institution", "NOPE")
    assert missing.returncode == 1
    assert "organization_not_found" in missing.stderr


def fail_the_second_batch(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The database goes away while the import stores its second batch; the list returned
    counts the batches the import tried to store."""
    batches: list[int] = []
    real_store_rows = imports.store_rows

    async def fail_on_the_second_batch(*args: Any, **kwargs: Any) -> Any:
        batches.append(len(batches) + 1)
        if len(batches) == 2:
            raise RuntimeError("the database went away")
        return await real_store_rows(*args, **kwargs)

    monkeypatch.setattr(imports, "store_rows", fail_on_the_second_batch)
    return batches


async def test_small_batches_give_the_same_report_and_a_failed_batch_keeps_nothing(
    client: httpx.AsyncClient,
    database: Database,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file is stored a batch at a time (imports.import_file). With batches of two rows: a
    number repeated in a later batch, and bad rows in every batch, are reported by line exactly as
    in one batch; a store that fails in the middle of the file keeps no row of it (one
    transaction)."""
    monkeypatch.setattr(settings.of(CertificatesSettings), "certificate_import_batch_size", 2)
    lines = [
        CN_HEADER,
        cn_row("RA-1", "RA-S1"),
        cn_row("RA-2", "RA-S2", category="游标卡尺"),
        cn_row("RA-3", "RA-S3"),
        cn_row("RA-1", "RA-S1"),  # the first row again, two batches later: unchanged
        cn_row("RA-5", "RA-S5", verified="2026-13-45"),
        cn_row("RA-1", "RA-S9"),  # the first number with other content
        cn_row("RA-7", "RA-S7"),
    ]
    content = ("\r\n".join(lines) + "\r\n").encode("gb18030")
    headers = await auth_headers(institution_user)
    before = await _count(database)
    report = (await _import(client, headers, "ra.csv", content)).json()
    assert (report["total_rows"], report["created"], report["unchanged"], report["failed"]) == (
        7,
        3,
        1,
        3,
    ), report
    assert [(e["line"], e["code"]) for e in report["errors"]] == [
        (3, "unknown_category"),
        (6, "invalid_date"),
        (7, "number_taken"),
    ]
    assert await _count(database) == before + 3

    batches = fail_the_second_batch(monkeypatch)
    fresh = [CN_HEADER] + [cn_row(f"RB-{i}", f"RB-S{i}") for i in range(7)]
    with pytest.raises(RuntimeError):
        await _import(client, headers, "rb.csv", ("\n".join(fresh) + "\n").encode())
    assert len(batches) == 2
    assert await _count(database) == before + 3  # the first batch of rb.csv was rolled back


def test_batched_ids_are_time_ordered_uuids_and_tokens_what_token_urlsafe_makes() -> None:
    import base64
    import uuid as uuid_module
    from datetime import UTC, datetime

    from api.certificates.store import new_ids, new_sticker_tokens

    now = datetime(2026, 12, 31, 23, 30, 0, 123000, tzinfo=UTC)
    ids = new_ids(500, now)
    assert len(set(ids)) == 500
    assert ids == sorted(ids)  # in the order drawn: rows append to the indexes
    for value in ids:
        assert value.version == 7
        assert value.variant == uuid_module.RFC_4122
        assert value.int >> 80 == int(now.timestamp() * 1000)  # RFC 9562: the millisecond
        assert uuid_module.UUID(str(value)) == value
        assert hash(value) == hash(uuid_module.UUID(value.hex))
        assert value.is_safe is uuid_module.SafeUUID.unknown
    later = new_ids(3, now.replace(microsecond=124000))
    assert later[0] > ids[-1]
    tokens = new_sticker_tokens(500)
    assert len(set(tokens)) == 500
    for token in tokens:
        assert len(token) == 22
        assert len(base64.urlsafe_b64decode(token + "==")) == 16
    assert new_ids(0, now) == []
    assert new_sticker_tokens(0) == []


async def test_the_bulk_import_reads_in_a_child_and_reports_as_the_upload_does(
    client: httpx.AsyncClient,
    database: Database,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``bulk=True`` (the command line's import) reads and validates in a forked child (on SQLite)
    and pauses the garbage collector: the same rows stored and the same errors, named by the file's headers,
    as the upload; the child's errors (a file over the limits) reach the caller; the collector
    runs again afterwards, also when the import fails."""
    import gc
    import multiprocessing

    from api.certificates.errors import ImportTooLarge, UnsupportedImportFile
    from portal.accounts.models import Organization

    config = settings.of(CertificatesSettings)
    monkeypatch.setattr(config, "certificate_import_batch_size", 2)

    def content(prefix: str) -> bytes:
        lines = [
            CN_HEADER,
            cn_row(f"{prefix}-1", f"{prefix}-S1"),
            cn_row(f"{prefix}-2", f"{prefix}-S2", category="游标卡尺"),
            cn_row(f"{prefix}-3", f"{prefix}-S3"),
            cn_row(f"{prefix}-1", f"{prefix}-S1"),
            cn_row(f"{prefix}-5", f"{prefix}-S5", verified="2026-13-45"),
            cn_row(f"{prefix}-1", f"{prefix}-S9"),
            cn_row(f"{prefix}-7", f"{prefix}-S7"),
        ]
        return ("\r\n".join(lines) + "\r\n").encode("gb18030")

    uploaded = (
        await _import(client, await auth_headers(institution_user), "up.csv", content("UP"))
    ).json()

    async def bulk(data: bytes, name: str = "bulk.csv") -> Any:
        async with database.transaction() as session:
            org = await session.get(Organization, institution_user.organization_id)
            assert org is not None
            return await imports.import_file(
                session,
                io.BytesIO(data),
                name,
                institution=org,
                actor=None,
                settings=config,
                bulk=True,
            )

    before = await _count(database)
    assert gc.isenabled()
    report = await bulk(content("BK"))
    assert gc.isenabled()
    assert await _count(database) == before + 3
    got = report.model_dump(mode="json")
    for name in ("total_rows", "created", "unchanged", "failed", "held", "errors_truncated"):
        assert got[name] == uploaded[name], name
    assert [(e["line"], e["column"], e["header"], e["code"]) for e in got["errors"]] == [
        (e["line"], e["column"], e["header"], e["code"]) for e in uploaded["errors"]
    ]
    assert [e["header"] for e in got["errors"]] == ["器具类别", "检定日期", "证书编号"]
    again = await bulk(content("BK"))
    assert (again.created, again.unchanged) == (0, 4)  # re-import changes nothing
    assert await _count(database) == before + 3

    monkeypatch.setattr(config, "certificate_import_max_rows", 3)
    with pytest.raises(ImportTooLarge):
        await bulk(content("BL"))
    with pytest.raises(UnsupportedImportFile):
        await bulk(b"%PDF-1.4", "a.pdf")
    assert gc.isenabled()
    assert await _count(database) == before + 3

    monkeypatch.setattr(config, "certificate_import_max_rows", 500_000)
    fail_the_second_batch(monkeypatch)
    with pytest.raises(RuntimeError, match="went away"):
        await bulk(content("BM"))
    assert gc.isenabled()
    assert multiprocessing.active_children() == []  # the reader was ended with the import
    assert await _count(database) == before + 3  # nothing of the failed import kept


async def test_a_workbook_whose_row_sits_on_the_last_line_is_refused_and_stores_nothing(
    client: httpx.AsyncClient,
    database: Database,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    """Every line of it was read padded to the 16,384 columns the sheet claims, in the request's
    event loop (the registration import took ~45 s on such a file). Rows are read to the column
    limit, and blank lines count against a bound of their own (2 × the row limit + 1,000)."""
    refused = await _import(
        client,
        await auth_headers(institution_user),
        "book.xlsx",
        workbook_with_a_row_on_the_last_line(
            ["证书编号", "器具类别代码", "出厂编号", "送检单位", "行政区划代码", "检定日期"],
            ["LAST-1", "taximeter", "20230001", "王师傅", "610402", date(2026, 3, 1)],
            column=1,
        ),
    )
    assert_problem(refused, 422, "import_file_too_large")
    assert "1001000" in refused.json()["detail"]
    assert await _count(database) == 0
