"""The public record: an append-only chain of signed events (docs/credit-ledger.md).

Each event's ``body`` is canonical JSON (keys sorted, UTF-8, no insignificant whitespace, no
floats) holding ``prev_hash``, the hash of the event before it. ``hash`` is the SHA-256 of the
body's bytes; ``signature`` is the portal's Ed25519 signature of ``SIGNING_PREFIX + hash``. So
changing any stored event breaks its hash (or, if the hash is recomputed, its signature), and
removing one breaks the sequence and the next event's ``prev_hash``. ``verify_entries`` checks all
of that from the public JSON alone; it needs nothing but the public key.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from credit.models import LedgerEvent, Methodology
from portal.accounts.models import Organization
from portal.settings import Settings
from portal.signing import SigningKey, load_signing_key, verify_signature

GENESIS_HASH = "0" * 64
SIGNING_PREFIX = b"gongzhi.credit.ledger.v1\n"
HEAD_PREFIX = b"gongzhi.credit.ledger.head.v1\n"
FORMAT_VERSION = 1
# Any constant works: it only has to be the same for every writer of the chain.
_ADVISORY_LOCK = 0x63726564  # "cred"


def canonical(value: Any, *, check: bool = True) -> bytes:
    """Canonical JSON bytes: sorted keys, UTF-8 (not \\u escapes), ``,`` and ``:`` separators.
    Floats are refused: decimals travel as strings so every verifier hashes the same bytes.
    ``check=False`` skips that walk for values built by code that never makes floats (the
    scoring's evidence, hashed 100,000 times in a run)."""
    if check:
        _refuse_floats(value)
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("canonical JSON carries no floats; write decimals as strings")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("canonical JSON keys are strings")
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_hash(value: Any, *, check: bool = True) -> str:
    return sha256_hex(canonical(value, check=check))


def signing_key(settings: Settings) -> SigningKey:
    """The portal's key, which signs every event of the chain."""
    return load_signing_key(settings.signing_key_file)


def association_ref(org: Organization) -> dict[str, str]:
    """How an event names the association it is about."""
    return {"id": str(org.id), "code": org.code, "name": org.name}


def methodology_ref(m: Methodology) -> dict[str, Any]:
    return {"code": m.code, "version": m.version, "hash": m.definition_hash}


def signing_message(hash_hex: str) -> bytes:
    return SIGNING_PREFIX + hash_hex.encode("ascii")


def head_message(seq: int, hash_hex: str) -> bytes:
    return HEAD_PREFIX + f"{seq}:{hash_hex}".encode("ascii")


def timestamp(value: datetime) -> str:
    """UTC, ISO 8601 with microseconds and a ``Z``: one spelling for every database."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Actor:
    id: uuid.UUID | None
    role: str

    @classmethod
    def of(cls, user: Any | None) -> Actor:
        if user is None:
            return cls(id=None, role="system")
        return cls(id=user.id, role=str(user.role))


class LedgerWriter:
    """Appends events inside the caller's transaction. The head is read once under a lock (an
    advisory lock on PostgreSQL, the write lock on SQLite) and then kept, so a publication of
    many grades appends them without re-reading the chain."""

    def __init__(self, session: AsyncSession, key: SigningKey) -> None:
        self.session = session
        self.key = key
        self._head: tuple[int, str] | None = None
        self._staged: list[dict[str, Any]] = []

    async def lock(self) -> None:
        """Take the chain's lock now, before reading the state the next event changes (a run's
        status, an objection's, a grade). Two transitions of the same thing at once then run
        one after the other, and the second reads what the first committed: read before the
        lock, both saw a run in 公示 and published it, or decided the same objection, or
        reviewed a grade already cancelled, each with its ledger event."""
        await self._load_head()

    async def _load_head(self) -> tuple[int, str]:
        if self._head is None:
            bind = self.session.get_bind()
            if bind.dialect.name == "postgresql":
                await self.session.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK}
                )
            else:
                # SQLite: a write that changes nothing starts the transaction and takes the
                # database's one write lock (reads alone take none), so the head read next is
                # the last writer's, not a number another transaction is about to use.
                await self.session.execute(
                    update(LedgerEvent)
                    .where(col(LedgerEvent.seq) == -1)
                    .values(seq=col(LedgerEvent.seq))
                    .execution_options(synchronize_session=False)
                )
            row = (
                await self.session.execute(
                    select(LedgerEvent.seq, LedgerEvent.hash)
                    .order_by(col(LedgerEvent.seq).desc())
                    .limit(1)
                )
            ).first()
            self._head = (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)
        return self._head

    async def _row(
        self,
        kind: str,
        *,
        actor: Actor,
        at: datetime,
        association: Mapping[str, str] | None,
        payload: dict[str, Any],
        run_id: uuid.UUID | None,
        uscc: str | None,
        methodology: Mapping[str, Any] | None,
        evidence_hash: str | None,
        check: bool,
    ) -> dict[str, Any]:
        prev_seq, prev_hash = await self._load_head()
        seq = prev_seq + 1
        event_id = uuid.uuid4()
        body = {
            "v": FORMAT_VERSION,
            "seq": seq,
            "id": str(event_id),
            "kind": kind,
            "at": timestamp(at),
            "actor": {"id": str(actor.id) if actor.id else None, "role": actor.role},
            "association": dict(association) if association else None,
            "run_id": str(run_id) if run_id else None,
            "uscc": uscc,
            "methodology": dict(methodology) if methodology else None,
            "evidence_hash": evidence_hash,
            "payload": payload,
            "prev_hash": prev_hash,
        }
        raw = canonical(body, check=check)
        digest = sha256_hex(raw)
        self._head = (seq, digest)
        return {
            "seq": seq,
            "id": event_id,
            "kind": kind,
            "at": at,
            "association_id": uuid.UUID(association["id"]) if association else None,
            "run_id": run_id,
            "uscc": uscc,
            "body": raw.decode("utf-8"),
            "hash": digest,
            "signature": self.key.sign(signing_message(digest)),
            "key_id": self.key.key_id,
        }

    async def append(
        self,
        kind: str,
        *,
        actor: Actor,
        at: datetime,
        association: Mapping[str, str] | None,
        payload: dict[str, Any],
        run_id: uuid.UUID | None = None,
        uscc: str | None = None,
        methodology: Mapping[str, Any] | None = None,
        evidence_hash: str | None = None,
    ) -> LedgerEvent:
        row = await self._row(
            kind,
            actor=actor,
            at=at,
            association=association,
            payload=payload,
            run_id=run_id,
            uscc=uscc,
            methodology=methodology,
            evidence_hash=evidence_hash,
            check=True,
        )
        event = LedgerEvent(**row)
        self.session.add(event)
        await self.session.flush()
        return event

    async def stage(
        self,
        kind: str,
        *,
        actor: Actor,
        at: datetime,
        association: Mapping[str, str] | None,
        payload: dict[str, Any],
        run_id: uuid.UUID | None = None,
        uscc: str | None = None,
        methodology: Mapping[str, Any] | None = None,
        evidence_hash: str | None = None,
    ) -> dict[str, Any]:
        """Like ``append`` but kept as a plain row until ``write_staged``: a publication of
        100,000 grades writes its events in bulk instead of building ORM objects. The caller
        builds ``payload`` from ints and strings only (the float check is skipped)."""
        row = await self._row(
            kind,
            actor=actor,
            at=at,
            association=association,
            payload=payload,
            run_id=run_id,
            uscc=uscc,
            methodology=methodology,
            evidence_hash=evidence_hash,
            check=False,
        )
        self._staged.append(row)
        return row

    async def write_staged(self, *, chunk: int = 2000) -> None:
        table = LedgerEvent.__table__  # type: ignore[attr-defined]
        for start in range(0, len(self._staged), chunk):
            await self.session.execute(insert(table), self._staged[start : start + chunk])
        self._staged = []


def entry_json(event: LedgerEvent) -> dict[str, Any]:
    """An event as the public ledger API serves it."""
    return {
        "seq": event.seq,
        "body": event.body,
        "hash": event.hash,
        "signature": event.signature,
        "key_id": event.key_id,
    }


@dataclass
class Verification:
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    problems: list[str] = field(default_factory=list)


def verify_entries(
    entries: Iterable[Mapping[str, Any]],
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    known_head: tuple[int, str] | None = None,
    max_problems: int = 50,
) -> Verification:
    """Verify a whole ledger from seq 1, in order, as served by ``GET /api/v1/credit/ledger``.

    Checks, for every entry: the body is canonical JSON; SHA-256(body) equals ``hash``; the
    signature of ``hash`` verifies with the key named by ``key_id``; ``seq`` is the previous seq
    plus one (body and envelope agree); ``prev_hash`` is the previous entry's hash. With
    ``known_head`` (a (seq, hash) pair kept from an earlier visit) it also checks that this
    entry is still there unchanged, so truncating the tail is detected too."""
    problems: list[str] = []
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    seen_known = known_head is None

    def problem(message: str) -> None:
        if len(problems) < max_problems:
            problems.append(message)

    for entry in entries:
        checked += 1
        seq = entry.get("seq")
        raw = str(entry.get("body", "")).encode("utf-8")
        digest = sha256_hex(raw)
        if seq != expected_seq:
            problem(f"seq {seq}: expected seq {expected_seq} (an event is missing or reordered)")
        try:
            body = json.loads(raw)
        except ValueError:
            problem(f"seq {seq}: body is not JSON")
            body = {}
        if body and canonical(body) != raw:
            problem(f"seq {seq}: body is not in canonical form")
        if body.get("seq") != seq:
            problem(f"seq {seq}: body says seq {body.get('seq')}")
        if digest != entry.get("hash"):
            problem(f"seq {seq}: hash does not match the body (the event was altered)")
        key = public_keys.get(str(entry.get("key_id")))
        if key is None:
            problem(f"seq {seq}: unknown key id {entry.get('key_id')}")
        elif not verify_signature(key, str(entry.get("signature", "")), signing_message(digest)):
            problem(f"seq {seq}: signature does not verify")
        if body.get("prev_hash") != prev_hash:
            problem(f"seq {seq}: prev_hash does not link to the event before it")
        if known_head is not None and seq == known_head[0]:
            seen_known = True
            if digest != known_head[1]:
                problem(f"seq {seq}: differs from the head you kept")
        prev_hash = digest
        expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
    if not seen_known and known_head is not None:
        problem(f"the head you kept (seq {known_head[0]}) is no longer in the ledger")
    return Verification(
        ok=not problems,
        checked=checked,
        head_seq=expected_seq - 1,
        head_hash=prev_hash,
        problems=problems,
    )


async def iter_stored(session: AsyncSession, *, batch: int = 2000) -> list[dict[str, Any]]:
    """Every stored event in order, as API entries (for the local verifier)."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        rows = (
            await session.scalars(
                select(LedgerEvent)
                .where(col(LedgerEvent.seq) > after)
                .order_by(col(LedgerEvent.seq))
                .limit(batch)
            )
        ).all()
        if not rows:
            return out
        out.extend(entry_json(r) for r in rows)
        after = rows[-1].seq


async def verify_stored(session: AsyncSession, key: SigningKey) -> Verification:
    """Verify the ledger as stored in this database against the portal's public key."""
    return verify_entries(await iter_stored(session), {key.key_id: key.public_key})


def fetch_and_verify(
    base_url: str, *, known_head: tuple[int, str] | None = None, timeout: float = 30.0
) -> Verification:
    """Verify a portal's public ledger over HTTP, page by page, with the keys it publishes.
    (A careful verifier pins the key it trusts instead of taking it from the same response.)"""
    import httpx

    from portal.signing import public_key_from_raw_b64

    entries: list[dict[str, Any]] = []
    keys: dict[str, Ed25519PublicKey] = {}
    url: str | None = "/api/v1/credit/ledger?after=0&limit=1000"
    with httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout) as client:
        while url:
            response = client.get(url)
            response.raise_for_status()
            page = response.json()
            for item in page["public_keys"]:
                keys[item["key_id"]] = public_key_from_raw_b64(item["public_key"])
            entries.extend(page["entries"])
            url = page["next"]
    return verify_entries(entries, keys, known_head=known_head)
