"""``gongzhi calendar``: import the State Council's notice from a file, show a year, check coverage,
run as an operator would run them."""

from __future__ import annotations

from pathlib import Path

from tests.portal.test_cli import run

NOTICES = Path(__file__).parent / "notices"


def test_import_show_coverage_and_remove_on_sqlite(tmp_path: Path) -> None:
    env = {
        "GONGZHI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "GONGZHI_STORAGE_DIR": str(tmp_path / "storage"),
        # Late in 2026, deadlines reach into 2027 (the suite may run on any clock).
        "GONGZHI_TEST_NOW": "2026-12-01T02:00:00+00:00",
    }
    assert run("db", "upgrade", env=env).returncode == 0
    assert "calendar" in run("--help").stdout

    missing = run("calendar", "coverage", env=env)
    assert missing.returncode == 1  # for monitoring: a year deadlines may reach is unknown
    assert "2027  缺失 MISSING" in missing.stdout
    assert "2027年节假日安排尚未导入" in missing.stderr
    unknown = run("calendar", "show", "2027", env=env)
    assert unknown.returncode == 1
    assert "calendar_year_not_found" in unknown.stderr

    dry = run("calendar", "import", str(NOTICES / "2027-invented.txt"), "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "2027-02-05 周五  放假 holiday  春节" in dry.stdout
    assert run("calendar", "show", "2027", env=env).returncode == 1  # a dry run stores nothing

    done = run("calendar", "import", str(NOTICES / "2027-invented.txt"), env=env)
    assert done.returncode == 0, done.stderr
    assert "已导入 / imported 2027" in done.stdout
    shown = run("calendar", "show", "2027", env=env)
    assert shown.returncode == 0
    assert "2027-02-20 周六  上班 working  春节" in shown.stdout
    assert "放假 29 天 / 调休上班 6 天" in shown.stdout
    covered = run("calendar", "coverage", env=env)
    assert covered.returncode == 0, covered.stdout + covered.stderr
    assert "2027  已导入 notice  国务院办公厅关于2027年部分节假日安排的通知" in covered.stdout

    library = run("calendar", "show", "2026", env=env)
    assert "2026-02-15 周日  放假 holiday  春节" in library.stdout
    assert "chinese-calendar" in library.stdout

    wrong = tmp_path / "wrong.txt"
    wrong.write_text(
        (NOTICES / "2027-invented.txt").read_text().replace("共9天", "共8天"), encoding="utf-8"
    )
    refused = run("calendar", "import", str(wrong), env=env)
    assert refused.returncode == 1
    assert "invalid_holiday_notice" in refused.stderr
    assert "共8天" in refused.stderr

    assert run("calendar", "remove", "2027", env=env).returncode == 0
    assert run("calendar", "show", "2027", env=env).returncode == 1
