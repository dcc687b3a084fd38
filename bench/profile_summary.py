#!/usr/bin/env python
"""Summarise py-spy collapsed stacks (``py-spy record --format raw``): top frames by self and
by inclusive samples, per thread, and optionally the share of chosen functions.

    .venv/bin/python bench/profile_summary.py var/bench/profiles/ingest-….py-spy.txt
    .venv/bin/python bench/profile_summary.py FILE --thread MainThread --top 40
    .venv/bin/python bench/profile_summary.py FILE --focus conversations/routes.py:create_conversation
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short(frame: str) -> str:
    """``func (path/to/module.py:123)`` -> ``module.py:func`` with a package hint."""
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    parts = path.replace("\\", "/").split("/")
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif "helpline" in parts:
        parts = parts[parts.index("helpline") :]
    elif path.startswith("/"):
        parts = parts[-2:]
    return f"{'/'.join(parts)}:{match['func']}"


SQLITE_LEAVES = (
    "DefaultDialect.do_execute",
    "DefaultDialect.do_commit",
    "DefaultDialect.do_executemany",
    "DefaultDialect.do_rollback",
    "DefaultDialect.do_begin",
    "_connection_worker_thread",
    "CursorResult",
    "fetchall",
    "fetchone",
    "fetchmany",
    "do_execute_no_params",
)


def package(frame: str) -> str:
    """Which library a (shortened) frame belongs to; SQLite's own C work gets its own bucket."""
    name = short(frame)
    if any(leaf in name for leaf in SQLITE_LEAVES):
        return "sqlite (C, statement/commit/fetch)"
    path = name.split(":", 1)[0]
    head = path.split("/", 1)[0]
    if head.endswith(".py") or head.startswith("<"):
        return "stdlib/other: " + head
    if head == "helpline":
        parts = path.split("/")
        return "helpline/" + (parts[1] if len(parts) > 2 else parts[-1])
    return head


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.rstrip()
        if not line:
            continue
        head, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        stacks.append((head.split(";"), int(count)))
    return stacks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("--thread", default=None, help="only stacks whose thread name contains this")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--focus",
        action="append",
        default=[],
        help="report the inclusive share of frames containing this text (repeatable)",
    )
    args = parser.parse_args()

    stacks = load(args.file)
    threads: Counter[str] = Counter()
    for frames, count in stacks:
        threads[frames[0]] += count
    total_all = sum(threads.values())
    print(f"{args.file}: {total_all} samples")
    for name, count in threads.most_common():
        print(f"  thread {name[:70]:<70} {count:>7} ({100 * count / total_all:.1f}%)")
    if args.thread:
        stacks = [(f, c) for f, c in stacks if args.thread in f[0]]
    total = sum(c for _, c in stacks) or 1

    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    for frames, count in stacks:
        body = (
            [short(f) for f in frames[1:]]
            if frames and frames[0].startswith(("thread", "process"))
            else [short(f) for f in frames]
        )
        if not body:
            continue
        self_counts[body[-1]] += count
        for name in set(body):
            incl_counts[name] += count

    print(f"\nselected: {total} samples" + (f" (thread ~ {args.thread})" if args.thread else ""))
    print(f"\n-- top {args.top} by SELF samples")
    for name, count in self_counts.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {name}")
    by_package: Counter[str] = Counter()
    for frames, count in stacks:
        body = frames[1:] if frames and frames[0].startswith(("thread", "process")) else frames
        if body:
            by_package[package(body[-1])] += count
    print("\n-- SELF samples by package (where the CPU is actually spent)")
    for name, count in by_package.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {name}")
    print(f"\n-- top {args.top} by INCLUSIVE samples")
    for name, count in incl_counts.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {name}")
    for needle in args.focus:
        hit = sum(c for frames, c in stacks if any(needle in short(f) or needle in f for f in frames))
        print(f"\n-- frames containing {needle!r}: {100 * hit / total:.1f}% of selected samples")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
