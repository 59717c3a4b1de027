"""The bulk (command-line) import's reader: a forked child process reads, decodes and validates
the file and streams validated batches to the importing process through a pipe.

Reading and validating a row costs about as much CPU as storing it; in one process they take
turns (the GIL), in two they overlap on two cores while SQLite writes. The pipe's small buffer
holds the child back to a batch or two ahead of the importer, so memory stays bounded. Only for
a process that runs one import and nothing else (``gongzhi certificates import``): a serving
process keeps the thread of imports.py (forking a process with a pool of connections and
requests in flight is not something to do per request).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import queue
import threading
from collections.abc import AsyncGenerator
from datetime import date
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import IO, Any

import anyio

from api.certificates.import_limits import ImportLimits
from api.certificates.import_rows import CertRow, ValidationContext

# (line, validated row or its errors) as imports.next_batch makes them
Batch = list[tuple[int, Any]]


def _prepare(batch: Batch) -> None:
    """Work done here, on the other core, rather than by the importer: each row's content hash,
    and one object for each value the batch repeats (a maker, a date, an owner on every row),
    which pickle then sends once: the importer unpickled a batch in half the time."""
    seen: dict[Any, Any] = {}
    same = seen.setdefault
    for _, row in batch:
        if isinstance(row, CertRow):
            row.content_hash()
            values = row.__dict__
            for name, value in values.items():
                if value.__class__ is str or value.__class__ is date:
                    values[name] = same(value, value)


def _child(
    pipe: Connection,
    stream: IO[bytes],
    filename: str,
    limits: ImportLimits,
    ctx: ValidationContext,
    size: int,
) -> None:
    from api.certificates.import_files import read_rows
    from api.certificates.imports import next_batch

    headers: dict[str, str] = {}
    try:
        rows = read_rows(stream, filename, limits, headers)
        while True:
            batch = next_batch(rows, ctx, size)
            _prepare(batch)
            pipe.send(("batch", batch, headers))
            if not batch:
                return
    except Exception as exc:  # the importer raises it (a file too large, not readable …)
        try:
            message = pickle.dumps(("error", exc, headers))
        except Exception:  # an exception that does not pickle: its text, not a hang
            message = pickle.dumps(("error", RuntimeError(repr(exc)), headers))
        pipe.send_bytes(message)
    finally:
        pipe.close()


# Batches received ahead of the importer: while it pays for one-off costs (the first call's
# module imports) the child keeps reading instead of waiting on a full pipe.
AHEAD = 8


def forked_batches(
    stream: IO[bytes],
    filename: str,
    limits: ImportLimits,
    ctx: ValidationContext,
    size: int,
    headers: dict[str, str],
) -> AsyncGenerator[Batch, None]:
    """The file's validated batches, read in a forked child that starts now; ``headers`` is
    filled as import_files.read_rows fills it. The child is ended if the import stops early."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_child, args=(sender, stream, filename, limits, ctx, size), daemon=True
    )
    process.start()
    sender.close()
    return _received(process, receiver, headers)


async def _received(
    process: BaseProcess, receiver: Connection, headers: dict[str, str]
) -> AsyncGenerator[Batch, None]:
    received: queue.Queue[tuple[str, Any, dict[str, str]]] = queue.Queue(AHEAD)

    def pump() -> None:
        while True:
            try:
                message = receiver.recv()
            except EOFError:  # the child died without a word (killed, out of memory)
                error = RuntimeError("the import's reader process ended unexpectedly")
                message = ("error", error, {})
            received.put(message)
            if message[0] == "error" or not message[1]:
                return

    thread = threading.Thread(target=pump, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, payload, seen = await anyio.to_thread.run_sync(received.get)
            headers.update(seen)
            if kind == "error":
                raise payload
            if not payload:
                return
            yield payload
    finally:
        if process.is_alive():
            process.kill()
        while thread.is_alive():  # the pump ends on the child's last word or its EOF
            with contextlib.suppress(queue.Empty):
                received.get_nowait()
            thread.join(0.01)
        receiver.close()
        await anyio.to_thread.run_sync(process.join)
