"""Check that the services the PostgreSQL test run needs answer, and say which one does not."""

from __future__ import annotations

import sys


def check_services(pg_url: str, redis_url: str) -> int:
    import psycopg
    import redis

    from helpline.db import sync_url

    ok = True
    try:
        with psycopg.connect(sync_url(pg_url).replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3):
            pass
    except Exception as exc:
        print(f"PostgreSQL at {pg_url} is not reachable: {exc}", file=sys.stderr)
        ok = False
    try:
        redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:
        print(f"Redis at {redis_url} is not reachable: {exc}", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "check-services":
        print("usage: python -m helpline.devtools check-services PG_URL REDIS_URL", file=sys.stderr)
        sys.exit(2)
    sys.exit(check_services(sys.argv[2], sys.argv[3]))
