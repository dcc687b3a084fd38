"""The outbox: a job exists only if its transaction committed; failures retry with back-off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from helpline.db import Database, utcnow
from helpline.jobs import Job, JobContext, Sweeper, backoff, enqueue, job_handler

ran: list[dict[str, Any]] = []
failures = {"left": 0}


@job_handler("test.record")
async def _record(ctx: JobContext, payload: dict[str, Any]) -> None:
    if failures["left"] > 0:
        failures["left"] -= 1
        raise ConnectionError("the relay is down")
    ran.append(payload)


@pytest.fixture(autouse=True)
def _clean() -> None:
    ran.clear()
    failures["left"] = 0


async def test_job_runs_after_its_transaction_commits(db: Database):
    async with db.transaction() as session:
        enqueue(session, "test.record", {"n": 1})
    assert await Sweeper(db).run_due() == 1
    assert ran == [{"n": 1}]
    async with db.read() as session:
        job = await session.scalar(select(Job))
        assert job is not None and job.status == "done"


async def test_job_of_a_rolled_back_transaction_never_exists(db: Database):
    with pytest.raises(ValueError):
        async with db.transaction() as session:
            enqueue(session, "test.record", {"n": 2})
            raise ValueError("rollback")
    assert await Sweeper(db).run_due() == 0
    assert ran == []


async def test_failed_job_is_retried_later_with_backoff(db: Database):
    failures["left"] = 1
    async with db.transaction() as session:
        enqueue(session, "test.record", {"n": 3})
    sweeper = Sweeper(db)
    assert await sweeper.run_due() == 1
    assert ran == []
    async with db.read() as session:
        job = await session.scalar(select(Job))
        assert job is not None and job.status == "pending" and "relay is down" in job.last_error
        assert job.run_at > utcnow()
    assert await sweeper.run_due() == 0, "not due again before its back-off"
    async with db.transaction() as session:
        job = await session.scalar(select(Job))
        assert job is not None
        job.run_at = utcnow() - timedelta(seconds=1)
    assert await sweeper.run_due() == 1
    assert ran == [{"n": 3}]


def test_backoff_grows_and_is_capped():
    assert backoff(1) < backoff(2) < backoff(5)
    assert backoff(30) == timedelta(hours=1)
