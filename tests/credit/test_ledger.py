"""The public record: canonical JSON, the hash chain, signatures, and verification failing when a
stored event is altered or removed."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from credit import ledger
from credit.ledger import (
    Actor,
    LedgerWriter,
    canonical,
    iter_stored,
    verify_entries,
    verify_stored,
)
from portal.db import Database
from portal.signing import load_signing_key, public_key_from_raw_b64
from tests.credit.support import Clock, MakeAssociation


def test_canonical_json() -> None:
    value = {"b": [1, "二"], "a": {"z": None, "y": True}}
    assert canonical(value) == '{"a":{"y":true,"z":null},"b":[1,"二"]}'.encode()
    with pytest.raises(TypeError, match="no floats"):
        canonical({"score": 87.5})


async def _published(
    client: httpx.AsyncClient, clock: Clock, make_association: MakeAssociation
) -> None:
    assoc = await make_association()
    first = await assoc.add_member("咸阳市秦都区渭阳西路加油站有限公司")
    await assoc.add_member("杨凌示范区农科城加油站有限公司", region="610403")
    await assoc.set_indicators(first, self_commitment=True)
    run = (await assoc.post("/runs", {})).json()
    await assoc.post(f"/runs/{run['id']}/notice")
    clock.advance(days=14)
    assert (await assoc.post(f"/runs/{run['id']}/publish")).status_code == 200


async def _public_ledger(client: httpx.AsyncClient, limit: int = 3) -> tuple[list[dict], dict]:  # type: ignore[type-arg]
    entries: list[dict] = []  # type: ignore[type-arg]
    keys = {}
    url: str | None = f"/api/v1/credit/ledger?limit={limit}"
    while url:
        page = (await client.get(url)).json()
        entries.extend(page["entries"])
        keys.update(
            {k["key_id"]: public_key_from_raw_b64(k["public_key"]) for k in page["public_keys"]}
        )
        head = page["head"]
        url = page["next"]
    return entries, {"keys": keys, "head": head}


async def test_public_ledger_verifies_and_chains(
    client: httpx.AsyncClient, clock: Clock, make_association: MakeAssociation
) -> None:
    await _published(client, clock, make_association)
    entries, meta = await _public_ledger(client)
    kinds = [json.loads(e["body"])["kind"] for e in entries]
    assert kinds == [
        "run.started",
        "notice.opened",
        "rating.published",
        "rating.published",
        "run.published",
    ]
    result = verify_entries(entries, meta["keys"])
    assert result.ok, result.problems
    assert (result.head_seq, result.head_hash) == (meta["head"]["seq"], meta["head"]["hash"])
    first = json.loads(entries[0]["body"])
    assert first["prev_hash"] == "0" * 64
    assert first["seq"] == 1
    assert json.loads(entries[1]["body"])["prev_hash"] == entries[0]["hash"]
    published = json.loads(entries[2]["body"])
    assert published["methodology"]["code"] == "metrology-integrity"
    assert len(published["evidence_hash"]) == 64

    # Altered in transit or in a copy: the hash no longer matches.
    forged = [dict(e) for e in entries]
    forged[2]["body"] = forged[2]["body"].replace('"grade":"', '"grade":"A', 1)
    assert (
        "seq 3: hash does not match the body (the event was altered)"
        in verify_entries(forged, meta["keys"]).problems
    )
    # A removed event: the sequence and the next link break.
    result = verify_entries(entries[:2] + entries[3:], meta["keys"])
    assert not result.ok
    assert any("missing" in p for p in result.problems)
    # A truncated tail is caught against a head kept from an earlier visit.
    assert not verify_entries(
        entries[:-1], meta["keys"], known_head=(result.head_seq, entries[-1]["hash"])
    ).ok
    assert verify_entries(entries, meta["keys"], known_head=(5, entries[-1]["hash"])).ok
    # A chain rebuilt and re-signed with someone else's key does not verify with the portal's.
    assert not verify_entries(entries, {}).ok


async def test_altering_a_stored_event_fails_verification(
    client: httpx.AsyncClient,
    database: Database,
    settings,  # type: ignore[no-untyped-def]
    clock: Clock,
    make_association: MakeAssociation,
) -> None:
    await _published(client, clock, make_association)
    key = ledger.signing_key(settings)
    async with database.transaction() as session:
        assert (await verify_stored(session, key)).ok
        row = (
            await session.execute(
                text(
                    "SELECT seq, body FROM credit_event WHERE kind = 'rating.published' ORDER BY seq LIMIT 1"
                )
            )
        ).one()
        body = json.loads(row.body)
        body["payload"]["grade"] = "AAA" if body["payload"]["grade"] != "AAA" else "AA"
        await session.execute(
            text("UPDATE credit_event SET body = :body WHERE seq = :seq"),
            {"body": canonical(body).decode(), "seq": row.seq},
        )
    async with database.transaction() as session:
        result = await verify_stored(session, key)
    assert not result.ok
    assert f"seq {row.seq}: hash does not match the body (the event was altered)" in result.problems

    # Recomputing the hash too does not help: the signature and the next link give it away.
    async with database.transaction() as session:
        from credit.ledger import sha256_hex

        raw = canonical(body)
        await session.execute(
            text("UPDATE credit_event SET hash = :hash WHERE seq = :seq"),
            {"hash": sha256_hex(raw), "seq": row.seq},
        )
        result = await verify_stored(session, key)
    assert f"seq {row.seq}: signature does not verify" in result.problems
    assert f"seq {row.seq + 1}: prev_hash does not link to the event before it" in result.problems


async def test_deleting_a_stored_event_fails_verification(
    client: httpx.AsyncClient,
    database: Database,
    settings,  # type: ignore[no-untyped-def]
    clock: Clock,
    make_association: MakeAssociation,
) -> None:
    await _published(client, clock, make_association)
    key = ledger.signing_key(settings)
    async with database.transaction() as session:
        await session.execute(text("DELETE FROM credit_event WHERE seq = 3"))
    async with database.transaction() as session:
        result = await verify_stored(session, key)
        entries = await iter_stored(session)
    assert not result.ok
    assert "seq 4: expected seq 3 (an event is missing or reordered)" in result.problems
    assert "seq 4: prev_hash does not link to the event before it" in result.problems
    assert len(entries) == 4


async def test_appends_continue_the_chain_across_transactions(database: Database, settings) -> None:  # type: ignore[no-untyped-def]
    key = ledger.signing_key(settings)
    at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    for n in range(3):
        async with database.transaction() as session:
            writer = LedgerWriter(session, key)
            await writer.append(
                "test.note", actor=Actor.of(None), at=at, association=None, payload={"n": n}
            )
            await writer.append(
                "test.note",
                actor=Actor.of(None),
                at=at,
                association=None,
                payload={"n": n, "second": True},
            )
    async with database.transaction() as session:
        result = await verify_stored(session, key)
        assert result.ok, result.problems
        assert result.head_seq == 6
        await session.execute(text("DELETE FROM credit_event"))


def test_signing_key_is_created_once_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing-key.pem"
    key = load_signing_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = load_signing_key(path)
    assert again.key_id == key.key_id
    assert len(key.key_id) == 16
    # Another process reading the same file signs with the same key.
    code = (
        "from portal.signing import load_signing_key; import sys; "
        f"print(load_signing_key({str(path)!r}).key_id)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == key.key_id


def test_cli_verifies_the_ledger(tmp_path: Path) -> None:
    """``gongzhi credit verify-ledger`` on a fresh demo database, then after tampering."""
    import os
    import sqlite3

    gongzhi = str(Path(sys.executable).parent / "gongzhi")
    db = tmp_path / "cli.db"
    env = {
        **os.environ,
        "GONGZHI_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "GONGZHI_SIGNING_KEY_FILE": str(tmp_path / "key.pem"),
        "GONGZHI_STORAGE_DIR": str(tmp_path / "storage"),
    }
    for step in (["db", "upgrade"], ["demo"]):
        subprocess.run([gongzhi, *step], env=env, check=True, capture_output=True, timeout=300)
    ok = subprocess.run(
        [gongzhi, "credit", "verify-ledger"], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "ledger verified" in ok.stdout
    rebuilt = subprocess.run(
        [gongzhi, "credit", "rebuild-ratings"], env=env, capture_output=True, text=True
    )
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE credit_event SET body = replace(body, '\"grade\":\"B', '\"grade\":\"A') WHERE kind = 'rating.published'"
        )
    bad = subprocess.run(
        [gongzhi, "credit", "verify-ledger"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "FAILED" in bad.stderr
    assert "was altered" in bad.stderr
