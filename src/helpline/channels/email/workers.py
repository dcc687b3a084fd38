"""Mail workers: the file and parse work of received mail, in processes beside the server (ADR 0013).

Half of a received mail's cost in the server was storing its raw file, parsing its MIME and
sanitising its HTML: pure Python (or a file system call that waits for the journal) on the one
core the event loop runs on, while the machine's other core idled. A worker process does that
part (``preparing.prepare_now``: raw file written, parsed, attachments stored) and hands back the
``Prepared`` mail; the server keeps the SMTP dialogue and the one database transaction.

Nothing changes in what is kept or when the sender hears 250: the files are on disk before the
worker answers, and the commit still comes after. A worker that dies (killed, out of memory on a
pathological mail) breaks the pool: the mail it held is prepared again in the server itself, and
the next mail starts a fresh pool. ``HELPLINE_EMAIL_WORKERS=0`` keeps all the work in the server.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from helpline.channels.email.preparing import Prepared, prepare_in_worker

log = logging.getLogger(__name__)

# A worker is forked from a clean, small server process that has the parser imported already, not
# from the app (its threads and sockets) and not started afresh (a second of imports per pool).
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["helpline.channels.email.preparing"])


class MailWorkers:
    """A pool of ``processes`` worker processes, started on the first mail."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    async def prepare(
        self, store_root: Path, store_max_bytes: int, raw_max_bytes: int, raw: bytes, tenant_id: int
    ) -> Prepared | None:
        """The mail prepared by a worker; None when that failed (the caller then prepares it itself,
        and meets the same error, if it was the mail's, with its own type)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.processes, mp_context=_CONTEXT)
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(
                pool, prepare_in_worker, store_root, store_max_bytes, raw_max_bytes, raw, tenant_id
            )
        except BrokenProcessPool:
            log.error("a mail worker died; its mail (%d bytes) is prepared in the server instead", len(raw))
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            return None
        except Exception:
            log.warning(
                "a mail worker failed on a mail (%d bytes); preparing it in the server", len(raw), exc_info=True
            )
            return None

    def pids(self) -> list[int]:
        """The worker processes running now (none before the first mail)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return [process.pid for process in processes.values() if process.is_alive()]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
