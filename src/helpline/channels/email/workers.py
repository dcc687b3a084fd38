"""Mail workers: the file and parse work of received mail, in processes beside the server (ADR 0013).

Half of a received mail's cost in the server was storing its raw file, parsing its MIME and
sanitising its HTML: pure Python (or a file system call that waits for the journal) on the one
core the event loop runs on, while the machine's other core idled. A worker process does that
part (``preparing.prepare_now``: raw file written, parsed, attachments stored) and hands back the
``Prepared`` mail; the server keeps the SMTP dialogue and the one database transaction.

Each worker is connected to the server by a socket pair that the event loop reads like any other
connection: a job goes out as a length-prefixed pickle, answers come back in the same order. (A
``ProcessPoolExecutor`` cost the loop more than it saved: two helper threads and their hand-overs
per mail.) Nothing changes in what is kept or when the sender hears 250: the files are on disk
before the worker answers, and the commit still comes after. A worker that dies, fails or hangs
answers None: the caller prepares that mail itself, and the next mail starts a fresh worker.
``HELPLINE_EMAIL_WORKERS=0`` keeps all the work in the server.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import pickle
import socket
from pathlib import Path
from typing import Any

from helpline.channels.email.preparing import Prepared, prepare_in_worker

log = logging.getLogger(__name__)

# A worker is forked from a clean, small server process that has the parser imported already, not
# from the app (its threads and sockets) and not started afresh (a second of imports per worker).
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["helpline.channels.email.preparing"])
_HEADER = 4  # bytes of the big-endian length before each pickle
JOB_TIMEOUT = 120.0  # seconds; a worker that takes longer is stopped and the mail prepared here


class WorkerGone(Exception):
    """The worker's socket closed before it answered."""


def _serve(connection: socket.socket) -> None:
    """The worker: prepare each job read from the socket, answer in order, stop when it closes."""
    with connection, connection.makefile("rb") as reader:
        while len(header := reader.read(_HEADER)) == _HEADER:
            job = pickle.loads(reader.read(int.from_bytes(header, "big")))
            try:
                answer: tuple[str, Any] = ("ok", prepare_in_worker(*job))
            except Exception as exc:  # the server prepares it again and meets the error itself
                answer = ("failed", f"{type(exc).__name__}: {exc}")
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
            connection.sendall(len(data).to_bytes(_HEADER, "big") + data)


class _Worker(asyncio.Protocol):
    """The server's end of one worker: jobs in flight, answered in the order they were sent."""

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self.process = process
        self.transport: asyncio.Transport | None = None
        self.waiting: collections.deque[asyncio.Future[bytes]] = collections.deque()
        self.buffer = bytearray()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= _HEADER:
            size = int.from_bytes(self.buffer[:_HEADER], "big")
            if len(self.buffer) < _HEADER + size:
                return
            answer = bytes(self.buffer[_HEADER : _HEADER + size])
            del self.buffer[: _HEADER + size]
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(WorkerGone())

    def send(self, job: bytes) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(len(job).to_bytes(_HEADER, "big") + job)
        self.waiting.append(future)
        return future

    def stop(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()  # the worker reads the end and returns
        if self.process.is_alive():
            self.process.join(0.5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(0.5)


class MailWorkers:
    """Up to ``processes`` worker processes, each started with the first mail that needs it."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._workers: list[_Worker] = []
        self._starting = asyncio.Lock()  # one worker started at a time

    async def prepare(
        self, store_root: Path, store_max_bytes: int, raw_max_bytes: int, raw: bytes, tenant_id: int
    ) -> Prepared | None:
        """The mail prepared by a worker; None when that failed (the caller then prepares it itself,
        and meets the same error, if it was the mail's, with its own type)."""
        worker: _Worker | None = None
        try:
            worker = await self._worker()
            job = pickle.dumps(
                (store_root, store_max_bytes, raw_max_bytes, raw, tenant_id), protocol=pickle.HIGHEST_PROTOCOL
            )
            status, value = pickle.loads(await asyncio.wait_for(worker.send(job), JOB_TIMEOUT))
        except WorkerGone:
            log.error("a mail worker died; its mail (%d bytes) is prepared in the server instead", len(raw))
            return None
        except TimeoutError:
            log.error("a mail worker took over %.0f s on a mail (%d bytes); stopped", JOB_TIMEOUT, len(raw))
            if worker is not None:
                worker.stop()
            return None
        except Exception:
            log.warning("the mail workers failed on a mail (%d bytes); preparing it here", len(raw), exc_info=True)
            return None
        if status != "ok":
            log.info("a mail worker could not prepare a mail (%s); preparing it here", value)
            return None
        assert isinstance(value, Prepared)
        return value

    async def _worker(self) -> _Worker:
        """An idle worker, else a new one while there are fewer than ``processes``, else the least busy."""
        self._workers = [w for w in self._workers if not w.closed]
        idle = next((w for w in self._workers if not w.waiting), None)
        if idle is not None:
            return idle
        async with self._starting:
            self._workers = [w for w in self._workers if not w.closed]
            if len(self._workers) >= self.processes:
                return min(self._workers, key=lambda w: len(w.waiting))
            ours, theirs = socket.socketpair()
            with theirs:
                process = _CONTEXT.Process(target=_serve, args=(theirs,), name="helpline-mail-worker", daemon=True)
                await asyncio.to_thread(process.start)  # a round trip to the fork server
            _transport, worker = await asyncio.get_running_loop().create_unix_connection(
                lambda: _Worker(process), sock=ours
            )
            self._workers.append(worker)
            return worker

    def pids(self) -> list[int]:
        """The worker processes running now (none before the first mail)."""
        return [w.process.pid for w in self._workers if not w.closed and w.process.is_alive() and w.process.pid]

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers = []
