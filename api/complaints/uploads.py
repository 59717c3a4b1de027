"""Streaming multipart: each file part goes straight from the socket to a temporary file in the
storage directory, hashed with SHA-256 on the way. Memory per upload is one network chunk plus the
small text fields, whatever the size of the photo (Starlette's ``request.form()`` would spool to
the system temp directory and hash nothing)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import IO, Any

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from api.complaints.errors import MalformedMultipart, UploadTooLarge, storage_error
from api.complaints.photos import HEAD_BYTES

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 64


@dataclass
class SpooledFile:
    field: str
    filename: str | None
    path: Path
    size: int = 0
    head: bytes = b""
    _hash: Any = dataclass_field(
        default_factory=hashlib.sha256, repr=False
    )  # hashlib's type is private

    @property
    def sha256(self) -> str:
        digest: str = self._hash.hexdigest()
        return digest

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class MultipartBody:
    fields: dict[str, list[str]]
    files: list[SpooledFile]

    def discard(self) -> None:
        for spooled in self.files:
            spooled.discard()

    def first(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


async def receive(
    request: Request,
    *,
    tmp_dir: Path,
    max_file_bytes: int,
    file_fields: frozenset[str],
    max_files: int,
) -> MultipartBody:
    """Parse the request body as multipart/form-data, streaming files listed in ``file_fields``.
    The caller owns the temporary files (``body.discard()``) once this returns."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise MalformedMultipart(
            "Send multipart/form-data with a boundary.",
            detail_zh="请以 multipart/form-data 格式上传。",
        )

    fields: dict[str, list[str]] = {}
    files: list[SpooledFile] = []
    state: dict[str, object] = {}
    header_field = bytearray()
    header_value = bytearray()
    headers: dict[bytes, bytes] = {}
    parts = 0
    errors: list[Exception] = []

    def on_part_begin() -> None:
        nonlocal parts
        parts += 1
        headers.clear()
        state.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        state["name"] = name
        if parts > MAX_PARTS:
            errors.append(MalformedMultipart("Too many parts."))
            return
        if filename is not None and name in file_fields:
            if len(files) >= max_files:
                errors.append(
                    MalformedMultipart(
                        f"At most {max_files} files.", detail_zh=f"最多上传 {max_files} 个文件。"
                    )
                )
                return
            fd, raw_path = tempfile.mkstemp(prefix="upload-", dir=tmp_dir)
            spooled = SpooledFile(
                field=name, filename=filename.decode("utf-8", "replace"), path=Path(raw_path)
            )
            files.append(spooled)
            state["file"] = spooled
            state["fh"] = os.fdopen(fd, "wb")
        elif filename is None:
            state["buffer"] = bytearray()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if errors:
            return
        chunk = data[start:end]
        spooled = state.get("file")
        if isinstance(spooled, SpooledFile):
            spooled.size += len(chunk)
            if spooled.size > max_file_bytes:
                errors.append(
                    UploadTooLarge(
                        f"A file exceeds {max_file_bytes} bytes.",
                        detail_zh=f"文件超过 {max_file_bytes} 字节的上限。",
                    )
                )
                return
            if len(spooled.head) < HEAD_BYTES:
                spooled.head += chunk[: HEAD_BYTES - len(spooled.head)]
            spooled._hash.update(chunk)
            fh = state["fh"]
            assert isinstance(fh, IO) or hasattr(fh, "write")
            fh.write(chunk)
            return
        buffer = state.get("buffer")
        if isinstance(buffer, bytearray):
            buffer.extend(chunk)
            if len(buffer) > MAX_FIELD_BYTES:
                errors.append(MalformedMultipart("A form field is too long."))

    def on_part_end() -> None:
        fh = state.pop("fh", None)
        if fh is not None:
            fh.close()  # type: ignore[attr-defined]
        buffer = state.pop("buffer", None)
        if isinstance(buffer, bytearray):
            name = str(state.get("name", ""))
            fields.setdefault(name, []).append(buffer.decode("utf-8", "replace"))

    finished: list[bool] = []

    def on_end() -> None:
        finished.append(True)

    parser = MultipartParser(
        boundary,
        {
            "on_end": on_end,
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if errors:
                raise errors[0]
        parser.finalize()
        if errors:
            raise errors[0]
        if not finished:  # the closing boundary never came: a cut-off upload, not a photo
            raise MalformedMultipart(
                "The body ended before the closing boundary.",
                detail_zh="上传内容不完整（连接中断）。",
            )
    except Exception as exc:
        fh = state.pop("fh", None)
        if fh is not None:
            fh.close()  # type: ignore[attr-defined]
        for spooled in files:
            spooled.discard()
        if isinstance(exc, MalformedMultipart | UploadTooLarge):
            raise
        if isinstance(exc, OSError):  # spooling to the storage directory failed: disk full, ...
            raise storage_error(exc) from exc
        raise MalformedMultipart() from None
    return MultipartBody(fields=fields, files=files)
