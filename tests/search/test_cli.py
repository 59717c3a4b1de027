"""``gongzhi documents import`` and ``gongzhi search reindex``, run as an operator would."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.portal.test_cli import run


def write_jsonl(path: Path, rows: list[dict[str, object]], *, gz: bool = False) -> Path:
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_import_then_reindex(tmp_path: Path) -> None:
    env = {
        "GONGZHI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "GONGZHI_STORAGE_DIR": str(tmp_path / "storage"),
        "GONGZHI_SEARCH_BACKEND": "embedded",
    }
    assert run("db", "upgrade", env=env).returncode == 0
    regulations = write_jsonl(
        tmp_path / "regs.jsonl.gz",
        [
            {
                "id": "r1",
                "title": "计量法",
                "category": "经济法",
                "region": None,
                "date": "2018-10-26",
                "body": "# 计量法\n\n为了加强计量监督管理，制定本法。",
            },
            {
                "id": "r2",
                "title": "山东省计量条例",
                "category": "地方法规",
                "region": "山东",
                "date": "2020-07-24",
                "body": "第一条 为了加强计量监督管理。",
            },
        ],  # fmt: skip
        gz=True,
    )
    result = run("documents", "import", str(regulations), "--kind", "regulation", env=env)
    assert result.returncode == 0, result.stderr
    assert "2 created" in result.stdout
    articles = write_jsonl(
        tmp_path / "articles.jsonl",
        [
            {
                "title": "电子秤小知识",
                "body": "电子计价秤要定期检定。",
                "tags": ["电子秤"],
                "author": "科普编辑",
                "region_code": "610400",
            }
        ],  # fmt: skip
    )
    result = run("documents", "import", str(articles), "--kind", "article", env=env)
    assert result.returncode == 0, result.stderr
    notices = write_jsonl(
        tmp_path / "notices.jsonl",
        [
            {
                "title": "某加油站作弊案",
                "decision_number": "咸市监处罚〔2026〕1号",
                "party_name": "某加油站有限公司",
                "party_uscc": "91610404MA6XYK4Q78",
                "violation": "加油机加装作弊装置。",
                "legal_basis": "计量法实施细则",
                "penalty_kind": "罚款",
                "penalty_amount": 50000,
                "authority": "咸阳市市场监督管理局",
                "region_code": "610400",
                "decision_date": "2026-01-05",
            }
        ],  # fmt: skip
    )
    result = run("documents", "import", str(notices), "--kind", "notice", env=env)
    assert result.returncode == 0, result.stderr

    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "r3", "title": "缺正文"}])
    result = run("documents", "import", str(bad), "--kind", "regulation", env=env)
    assert result.returncode == 1
    assert "import_file_invalid" in result.stderr

    result = run("search", "reindex", env=env)
    assert result.returncode == 0, result.stderr
    assert "4 documents" in result.stdout
    status = run("search", "status", env=env)
    assert "'documents': 4" in status.stdout
    assert (tmp_path / "cli.search.sqlite").exists()  # the index file sits beside the database
