"""The outbox: jobs written in the same transaction as the change that needs them.

A job exists if and only if its change committed. A sweeper in every app process claims
due jobs (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; the single-writer lock on SQLite),
runs the registered handler, and retries failures with exponential back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, Database, UTCDateTime, utcnow

log = logging.getLogger(__name__)

JobHandler = Callable[["JobContext", dict[str, Any]], Awaitable[None]]
_handlers: dict[str, JobHandler] = {}
MAX_ATTEMPTS = 8


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_due", "status", "run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), default=None)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | failed
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help (a relay's 5xx): the job fails at once."""


class JobContext:
    def __init__(
        self, db: Database, job_id: int, tenant_id: int | None, attempts: int, services: Any = None
    ) -> None:
        self.db = db
        self.job_id = job_id
        self.tenant_id = tenant_id
        self.attempts = attempts
        # The app's Runtime (settings, attachment store, ...) when run by the app's sweeper.
        self.services = services

    @property
    def final_attempt(self) -> bool:
        """A failure now is final: the handler should record it where the user will see it."""
        return self.attempts >= MAX_ATTEMPTS


def job_handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Register the function that runs jobs of ``kind``."""

    def register(fn: JobHandler) -> JobHandler:
        _handlers[kind] = fn
        return fn

    return register


def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    tenant_id: int | None = None,
    run_at: datetime | None = None,
) -> Job:
    """Add a job to the caller's transaction: it runs only if that transaction commits."""
    job = Job(kind=kind, payload=payload, tenant_id=tenant_id, run_at=run_at or utcnow())
    session.add(job)
    return job


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 3600))


class Sweeper:
    """Claims due jobs and runs them; one per app process."""

    def __init__(self, db: Database, interval: float = 0.5, batch: int = 20, services: Any = None) -> None:
        self.db = db
        self.services = services
        self.interval = interval
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="job-sweeper")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                ran = await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job sweeper pass failed")
                ran = 0
            if ran == 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval):  # not wait_for: it can swallow a cancel
                        await self._wake.wait()
                self._wake.clear()

    async def _claim(self) -> list[tuple[int, str, dict[str, Any], int | None, int]]:
        now = utcnow()
        async with self.db.transaction() as session:
            query = (
                select(Job)
                .where(Job.status == "pending", Job.run_at <= now)
                .order_by(Job.run_at)
                .limit(self.batch)
            )
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            jobs = list((await session.scalars(query)).all())
            claimed = []
            for job in jobs:
                job.attempts += 1
                # A lease: if this process dies mid-job, the job is due again later.
                job.run_at = now + timedelta(minutes=5)
                claimed.append((job.id, job.kind, dict(job.payload), job.tenant_id, job.attempts))
            return claimed

    async def run_due(self) -> int:
        claimed = await self._claim()
        for job_id, kind, payload, tenant_id, attempts in claimed:
            handler = _handlers.get(kind)
            error = "" if handler else f"no handler for job kind {kind!r}"
            if handler is not None:
                try:
                    await handler(JobContext(self.db, job_id, tenant_id, attempts, self.services), payload)
                except PermanentJobError as exc:
                    log.warning("job %s (%s) failed for good: %s", job_id, kind, exc)
                    error, attempts = f"{exc}", MAX_ATTEMPTS
                except Exception as exc:  # the job failed, not the sweeper
                    log.exception("job %s (%s) failed", job_id, kind)
                    error = f"{type(exc).__name__}: {exc}"
            await self._finish(job_id, attempts, error)
        return len(claimed)

    async def _finish(self, job_id: int, attempts: int, error: str) -> None:
        async with self.db.transaction() as session:
            job = await session.get(Job, job_id)
            if job is None:
                return
            if not error:
                job.status, job.finished_at = "done", utcnow()
            elif attempts >= MAX_ATTEMPTS:
                job.status, job.last_error, job.finished_at = "failed", error, utcnow()
            else:
                job.last_error, job.run_at = error, utcnow() + backoff(attempts)
