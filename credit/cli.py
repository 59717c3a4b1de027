"""``gongzhi credit …``: verify the public ledger, rebuild the current grades from it."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from portal.db import Database
from portal.settings import get_settings

NAME = "credit"
app = typer.Typer(help="Industry credit evaluation (信用评价).", no_args_is_help=True)


@app.command("verify-ledger")
def verify_ledger(
    url: Annotated[
        str | None,
        typer.Option(help="Verify a portal's public ledger over HTTP instead of this database."),
    ] = None,
    head: Annotated[
        str | None, typer.Option(help="A head kept from an earlier visit, as SEQ:HASH.")
    ] = None,
) -> None:
    """Check every event's hash, signature and link; exit 1 on any problem."""
    from credit.ledger import Verification, fetch_and_verify, verify_entries

    known = None
    if head:
        seq, _, digest = head.partition(":")
        known = (int(seq), digest)

    async def local() -> Verification:
        from credit.ledger import iter_stored, signing_key

        settings = get_settings()
        database = Database.from_settings(settings)
        try:
            async with database.transaction() as session:
                key = signing_key(settings)
                entries = await iter_stored(session)
                return verify_entries(entries, {key.key_id: key.public_key}, known_head=known)
        finally:
            await database.dispose()

    result = fetch_and_verify(url, known_head=known) if url else asyncio.run(local())
    for problem in result.problems:
        typer.echo(f"问题 / problem: {problem}", err=True)
    if result.ok:
        typer.echo(
            f"账本完整 / ledger verified: {result.checked} events, head {result.head_seq}:{result.head_hash}"
        )
        return
    typer.echo(
        f"账本校验失败 / ledger verification FAILED ({result.checked} events read)", err=True
    )
    raise typer.Exit(code=1)


@app.command("rebuild-ratings")
def rebuild_ratings(
    repair: Annotated[
        bool, typer.Option(help="Replace the stored grades by the folded ones.")
    ] = False,
) -> None:
    """Fold the ledger into current grades and compare with the stored ones."""
    from credit.ratings import rebuild_ratings as rebuild

    async def run() -> list[str]:
        database = Database.from_settings(get_settings())
        try:
            async with database.transaction() as session:
                return await rebuild(session, repair=repair)
        finally:
            await database.dispose()

    differences = asyncio.run(run())
    for line in differences:
        typer.echo(line)
    if differences and not repair:
        raise typer.Exit(code=1)
    typer.echo(
        "当前等级与账本一致 / ratings match the ledger" if not differences else "已修复 / repaired"
    )
