"""Photo files in an S3-compatible object store (``GONGZHI_PHOTO_STORAGE=s3``): the
``PhotoStorage`` of a deployment with more than one node, which shares the files through the store
instead of a disk. Client: aioboto3 (aiobotocore underneath), README "Photos" says why.

Every failure to reach or use the store is raised as ``ObjectStoreError``, an ``OSError``, so the
callers treat it exactly like a failing disk: the intake answers 503 ``storage_unavailable`` and
removes what it wrote, deletes that fail are left to the orphan sweep."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
from collections.abc import AsyncIterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aioboto3
import aiohttp
import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from portal import clock

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

CHUNK = 256 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}


class ObjectStoreError(OSError):
    """The object store could not be reached or refused the request (an I/O error to callers)."""

    def __init__(self, action: str, exc: BaseException) -> None:
        super().__init__(errno.EIO, f"object store {action} failed: {type(exc).__name__}")


def _b64_sha256(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


class S3PhotoStorage:
    """Keys are the same as on disk (``originals/ab/<id>``), under ``prefix`` in ``bucket``.

    Every write sends the SHA-256 of its bytes (``x-amz-checksum-sha256``): the store verifies it
    and refuses a body that arrived different, so an original is byte-exact or not stored at all.
    A PUT is atomic in S3: an object exists whole or not at all, which is what the local storage's
    write-then-rename gives."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        bucket: str,
        prefix: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        timeout_seconds: float = 10,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._endpoint_url = endpoint_url
        self._region = region
        self._access_key_id = access_key_id or None
        self._secret_access_key = secret_access_key or None
        # One attempt: a store that is down answers 503 at once (the client retries the upload),
        # instead of the request hanging through botocore's back-off.
        self._config = AioConfig(
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
            retries={"max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": "path"},
            signature_version="s3v4",  # presigned URLs too (SigV2 is deprecated)
            # Checksums only where we send one (the SHA-256): no aws-chunked trailer some
            # S3-compatible stores do not accept.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client: S3Client | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening = asyncio.Lock()

    def _key(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid storage key {key!r}")
        return self.prefix + key

    async def _s3(self) -> S3Client:
        """The one client (and its connection pool) of this process's event loop."""
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop:
            return self._client
        if self._loop is not loop:  # a new event loop (a CLI run after another): a new client
            self._client, self._stack, self._opening = None, None, asyncio.Lock()
        async with self._opening:
            if self._client is None:
                stack = contextlib.AsyncExitStack()
                session = aioboto3.Session(
                    aws_access_key_id=self._access_key_id,
                    aws_secret_access_key=self._secret_access_key,
                    region_name=self._region,
                )
                self._client = await stack.enter_async_context(
                    session.client("s3", endpoint_url=self._endpoint_url, config=self._config)
                )
                self._stack, self._loop = stack, loop
            return self._client

    async def presigned_url(self, key: str, *, expires_in: int, content_type: str) -> str:
        """A GET URL the store itself serves until ``expires_in`` seconds from now (signed
        locally: no request to the store). The response headers are fixed by the signature."""
        s3 = await self._s3()
        url: str = await s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ResponseContentType": content_type,
                "ResponseCacheControl": "private, max-age=3600",
            },
            ExpiresIn=expires_in,
        )
        return url

    async def ping(self) -> None:
        """Raise unless the bucket answers (the readiness check)."""
        s3 = await self._s3()
        try:
            await s3.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreError("head bucket", exc) from exc

    async def aclose(self) -> None:
        if self._stack is not None and self._loop is asyncio.get_running_loop():
            await self._stack.aclose()
        self._client, self._stack, self._loop = None, None, None

    async def _put(self, key: str, body: Any, sha256_hex: str, size: int) -> None:
        s3 = await self._s3()
        try:
            await s3.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=body,
                ContentLength=size,
                ChecksumSHA256=_b64_sha256(sha256_hex),
            )
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreError("write", exc) from exc

    async def save_file(self, key: str, source: Path, *, sha256: str | None = None) -> None:
        """Upload ``source`` and remove it once the store has it. ``sha256`` (hex), when the
        caller knows it (the intake hashed the upload while spooling it), is what the store
        checks the bytes against; otherwise it is computed here."""
        if sha256 is None:
            sha256 = await anyio.to_thread.run_sync(_file_sha256, source)
        size = source.stat().st_size
        with open(source, "rb") as fh:
            await self._put(key, fh, sha256, size)
        source.unlink(missing_ok=True)

    async def save_bytes(self, key: str, data: bytes) -> None:
        await self._put(key, data, hashlib.sha256(data).hexdigest(), len(data))

    async def read_bytes(self, key: str) -> bytes:
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=self._key(key))
            body = response["Body"]
            async with body:
                return await body.read()
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(errno.ENOENT, "no such photo", key) from exc
            raise ObjectStoreError("read", exc) from exc
        except (BotoCoreError, aiohttp.ClientError) as exc:  # also a body cut off midway
            raise ObjectStoreError("read", exc) from exc

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=self._key(key))
            body = response["Body"]
            async with body:  # the connection goes back to the pool, read to the end or not
                async for chunk in body.iter_chunks(CHUNK):
                    yield chunk
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(errno.ENOENT, "no such photo", key) from exc
            raise ObjectStoreError("read", exc) from exc
        except (BotoCoreError, aiohttp.ClientError, OSError) as exc:  # also a body cut off
            raise ObjectStoreError("read", exc) from exc

    async def exists(self, key: str) -> bool:
        s3 = await self._s3()
        try:
            await s3.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _missing(exc):
                return False
            raise ObjectStoreError("read", exc) from exc
        except BotoCoreError as exc:
            raise ObjectStoreError("read", exc) from exc
        return True

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        try:  # S3 answers 204 for a key that is not there: deletes may be retried
            await s3.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreError("delete", exc) from exc

    async def keys_older_than(self, cutoff: datetime) -> list[str]:
        """Objects are dated by the store's clock, not the portal's (which tests may set ahead,
        GONGZHI_TEST_NOW), so the cutoff is turned into an age and compared on the store's clock:
        an object is older than ``cutoff`` when, by the ``Date`` of the listing's own answer, it
        was written longer ago than ``cutoff`` is before the portal's now."""
        age = clock.now() - cutoff
        s3 = await self._s3()
        found: list[str] = []
        try:
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                date = page["ResponseMetadata"]["HTTPHeaders"].get("date")
                store_now = parsedate_to_datetime(date) if date else clock.now()
                for item in page.get("Contents", []):
                    if store_now - item["LastModified"] > age:
                        found.append(item["Key"][len(self.prefix) :])
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreError("list", exc) from exc
        return found

    async def keys(self) -> AsyncIterator[str]:
        """Every key under the prefix, a listing page (at most 1,000 keys) at a time (backups)."""
        s3 = await self._s3()
        try:
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix) :]
        except (BotoCoreError, ClientError, aiohttp.ClientError) as exc:
            raise ObjectStoreError("list", exc) from exc


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
