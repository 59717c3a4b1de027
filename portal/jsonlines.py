"""The JSON Lines import format every document kind shares (``gongzhi documents import``):
one object per line, gzipped or not, all or nothing, errors named by line number.

Articles and regulations (search/) and enforcement notices (notices/) are imported the same way;
the format lives here so neither domain imports the other.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from portal.errors import InvalidInput


class ImportFileInvalid(InvalidInput):
    code = "import_file_invalid"
    title = "The import file is not valid"
    title_zh = "导入文件内容有误"


class ImportReport(BaseModel):
    kind: Literal["article", "notice", "regulation"]
    created: int
    updated: int


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-empty line of a JSON Lines file, gzipped or not."""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open(path, "rb") if gzipped else path.open("rb")
    with opener as handle, io.TextIOWrapper(handle, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImportFileInvalid(
                    f"Line {number} is not JSON: {exc.msg}.",
                    detail_zh=f"第 {number} 行不是有效的 JSON。",
                ) from exc
            if not isinstance(value, dict):
                raise ImportFileInvalid(
                    f"Line {number} is not a JSON object.",
                    detail_zh=f"第 {number} 行不是 JSON 对象。",
                )
            yield number, value


def parse_line(model: type[BaseModel], number: int, value: dict[str, Any]) -> Any:
    """One line as ``model``, or ImportFileInvalid naming the line and the fields."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        errors = [
            {"field": f"line {number}: " + ".".join(map(str, e["loc"])), "message": e["msg"]}
            for e in exc.errors()
        ]
        raise ImportFileInvalid(
            f"Line {number} is not valid: {errors[0]['field']} {errors[0]['message']}.",
            detail_zh=f"第 {number} 行内容有误：{errors[0]['field']}。",
            errors=errors,
        ) from exc
