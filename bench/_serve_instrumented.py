"""`helpline serve` with measuring hooks, for diagnosis only (the headline figures never use it).

Environment:
  BENCH_LOCK_STATS=path      time every Database.transaction(): waiting for the SQLite write lock,
                             holding it, and the number of SQL statements run while holding it;
                             written as JSON when the server stops.
  BENCH_SWITCH_INTERVAL=sec  sys.setswitchinterval(sec) (CPython's GIL hand-off interval, 5 ms default).

The app's code is untouched: the hooks wrap ``helpline.db.Database.transaction`` at import time.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from contextlib import asynccontextmanager
from typing import Any


def _install_lock_stats(path: str) -> None:
    from sqlalchemy import event

    from helpline import db as dbmod

    waits: list[float] = []
    holds: list[float] = []
    hold_cpu: list[float] = []
    statements: list[int] = []
    state = {"in_tx": 0, "count": 0}
    hooked: set[int] = set()
    original_init = dbmod.Database.__init__

    def patched_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        engine = self.writer.sync_engine
        if id(engine) not in hooked:
            hooked.add(id(engine))

            @event.listens_for(engine, "before_cursor_execute")
            def _count(*_a: Any, **_k: Any) -> None:
                state["count"] += 1

    @asynccontextmanager
    async def transaction(self: Any) -> Any:
        if not self.is_sqlite:
            async with original_transaction(self) as session:
                yield session
            return
        asked = time.perf_counter()
        async with self._write_lock:
            got = time.perf_counter()
            got_cpu = time.thread_time()
            before = state["count"]
            async with self._writes() as session:
                async with session.begin():
                    yield session
                pending = session.info.pop(dbmod.PENDING_EVENTS, [])
            released = time.perf_counter()
            waits.append(got - asked)
            holds.append(released - got)
            hold_cpu.append(time.thread_time() - got_cpu)
            statements.append(state["count"] - before + 1)  # + COMMIT
        if pending and self.bus is not None:
            for item in pending:
                await self.bus.publish(item)

    original_transaction = dbmod.Database.transaction
    dbmod.Database.__init__ = patched_init  # type: ignore[method-assign]
    dbmod.Database.transaction = transaction  # type: ignore[method-assign]

    def dump() -> None:
        with open(path, "w") as fh:
            json.dump({"wait_s": waits, "hold_s": holds, "hold_cpu_s": hold_cpu, "statements": statements}, fh)

    atexit.register(dump)


def main() -> None:
    interval = os.environ.get("BENCH_SWITCH_INTERVAL")
    if interval:
        sys.setswitchinterval(float(interval))
    stats = os.environ.get("BENCH_LOCK_STATS")
    if stats:
        _install_lock_stats(stats)
    from helpline.cli import main as helpline_main

    sys.argv = ["helpline", *sys.argv[1:]]
    helpline_main()


if __name__ == "__main__":
    main()
