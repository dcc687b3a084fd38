"""SQLite's write-ahead log stays bounded under a steady stream of writes (the embedded default)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from helpline import db as db_module
from helpline.db import Database


async def test_the_wal_stays_short_while_writes_keep_coming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A PASSIVE checkpoint alone never lets a busy writer start the WAL over: it grew without end."""
    monkeypatch.setattr(db_module, "WAL_RESTART_FRAMES", 100)  # a small WAL is "long" here
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    wal = tmp_path / "wal.db-wal"
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    writing = True
    longest = 0

    async def checkpoints() -> None:
        nonlocal longest
        while writing:
            longest = max(longest, await database.checkpoint_wal())
            await asyncio.sleep(0.005)

    checkpointer = asyncio.create_task(checkpoints())
    try:
        for _ in range(1500):  # a steady stream, as under API intake
            async with database.transaction() as session:
                await session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": "x" * 3000})
            await asyncio.sleep(0)
        writing = False
        await checkpointer
        assert longest >= 100  # it did get long, and was started over:
        assert wal.stat().st_size < 600 * 4096, f"the WAL grew to {wal.stat().st_size // 4096} pages"
        async with database.read() as session:  # nothing was lost on the way
            assert await session.scalar(text("SELECT count(*) FROM notes")) == 1500
    finally:
        writing = False
        await database.dispose()


async def test_a_short_wal_is_only_copied_back(tmp_path: Path):
    database = Database(f"sqlite:///{tmp_path / 'short.db'}")
    try:
        async with database.transaction() as session:
            await session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
            await session.execute(text("INSERT INTO notes (body) VALUES ('a')"))
        frames = await database.checkpoint_wal()
        assert 0 < frames < db_module.WAL_RESTART_FRAMES
    finally:
        await database.dispose()
