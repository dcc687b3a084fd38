#!/usr/bin/env python
"""Page and search latency on a big database: 100,000 conversations, 1,000,000 messages.

Filling a million messages through the API would take hours, so the database is bulk-loaded
straight into SQLite after `helpline migrate` (tenant, agents, teams, contacts + identities,
conversations, messages, timeline, tags, and the FTS5 documents with the exact rowid/scope
scheme of helpline.search.Fts5Index, in the search file beside it). It is cached under
var/bench/, keyed by size, migration head and generator version, so reruns start in seconds.

Then `helpline serve` runs on it, an admin logs in through the /login form, and sequential
requests are timed from the client over loopback (an upper bound of the server's time):
/inbox?view=all_open, /inbox?view=mine, /conversations/{id} and GET /api/v1/search?q=… with a
mix of common, rare, diacritic-folded, prefix and two-word queries.

    .venv/bin/python bench/pages.py                        # the issue's figure (100k / 1M)
    .venv/bin/python bench/pages.py --conversations 10000  # quick (10k / 100k)
    .venv/bin/python bench/pages.py --profile py-spy       # + collapsed stacks of the server

Last line: ``inbox_p95_ms=… conversation_p95_ms=… search_p95_ms=… conversations=… messages=…``
(targets: pages p95 < 100 ms, search p95 < 50 ms).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    BENCH_VAR,
    PROFILES,
    cli,
    create_admin,
    headline,
    loadavg,
    percentile,
    print_header,
    start_py_spy,
    start_server,
    system_busy_seconds,
    wait_until_quiet,
)
from _text import RARE, TextGen

from helpline.search import CONTACT_TABLE, DOCUMENT_TABLE, search_file_path

GENERATOR_VERSION = 6  # 5: the FTS5 index in the search file; 6: contacts indexed apart
TARGET_PAGE_P95_MS = 100
TARGET_SEARCH_P95_MS = 50
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-password-123"
KIND_CODES = {"conversation": 1, "message": 2, "contact": 3}  # as helpline.search.KIND_CODES
TENANT_ID = 1
AGENTS = 24
TEAMS = ("Billing", "Logistik", "Ügyfélszolgálat", "Technical")
TAG_WORDS = (
    "refund",
    "billing",
    "shipping",
    "damaged",
    "vip",
    "rückruf",
    "számla",
    "urgent",
    "return",
    "login",
    "voucher",
    "complaint",
    "b2b",
    "warranty",
    "lieferung",
    "csomag",
)
CHANNELS = (("email", 0.6), ("chat", 0.2), ("webform", 0.1), ("api", 0.1))
# A mature help desk: what came in during the last days is mostly open, last month's mostly
# solved, and older conversations are closed, except a few forgotten ones that stay open for ever.
STATUSES_BY_AGE = (
    (3, (("new", 0.3), ("open", 0.5), ("pending", 0.15), ("on_hold", 0.05))),
    (30, (("open", 0.1), ("pending", 0.1), ("on_hold", 0.03), ("solved", 0.4), ("closed", 0.37))),
    (10**6, (("closed", 0.945), ("solved", 0.05), ("pending", 0.003), ("on_hold", 0.002))),
)
ADMIN_SHARE = 0.03  # the logged-in admin also works conversations: "mine" holds a few dozen open ones
PRIORITIES = (("normal", 0.75), ("low", 0.1), ("high", 0.12), ("urgent", 0.03))
HISTORY_DAYS = 730


def ts(value: datetime) -> str:
    """How SQLAlchemy's SQLite DateTime stores a (naive UTC) timestamp."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def ascii_fold(value: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))


def weighted(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in table], [w for _, w in table])[0]


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from helpline.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or "none"


# --- the bulk loader -------------------------------------------------------------------------


@dataclass
class Built:
    path: Path
    conversations: int
    messages: int
    meta: dict[str, object]


def cache_path(conversations: int, messages: int) -> Path:
    return BENCH_VAR / f"pages-{conversations}c-{messages}m-{head_revision()}-g{GENERATOR_VERSION}.db"


def build(conversations: int, messages: int, seed: int, batch: int = 2000) -> Built:
    path = cache_path(conversations, messages)
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        print(f"   using cached database {path} ({path.stat().st_size / 1e9:.2f} GB)")
        return Built(path, meta["conversations"], meta["messages"], meta)

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    for stale in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        stale.unlink(missing_ok=True)
    work = Path(tempfile.mkdtemp(prefix="helpline-bench-build-"))
    url = f"sqlite:///{building}"
    started = time.perf_counter()
    print(f"   building {path.name}: {conversations:,} conversations, {messages:,} messages (cached for reruns)")
    cli(url, work, "migrate")
    create_admin(url, work, ADMIN_EMAIL, ADMIN_PASSWORD)  # the tenant, and a real argon2 password

    rng = random.Random(seed)
    gen = TextGen(seed)
    db = sqlite3.connect(building, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA foreign_keys=OFF")
    db.execute("PRAGMA cache_size=-400000")
    # The full-text index lives in the search file next to the database (ADR 0012).
    index_path = search_file_path(building)
    for stale in (index_path, Path(f"{index_path}-wal"), Path(f"{index_path}-shm")):
        stale.unlink(missing_ok=True)
    db.execute("ATTACH DATABASE ? AS idx", (str(index_path),))
    db.execute("PRAGMA idx.journal_mode=OFF")
    db.execute("PRAGMA idx.synchronous=OFF")
    for statement in FTS_DDL:
        db.execute(statement)
    db.execute("CREATE TABLE idx.search_mark (token TEXT NOT NULL, applied INTEGER NOT NULL)")
    db.execute("INSERT INTO idx.search_mark (token, applied) SELECT token, 0 FROM search_index")
    admin_id = db.execute("SELECT id FROM users WHERE email = ?", (ADMIN_EMAIL,)).fetchone()[0]
    now = datetime.now(UTC).replace(tzinfo=None)
    start = now - timedelta(days=HISTORY_DAYS)

    # -- people: agents, teams, organisations, contacts with identities (and their search docs)
    db.execute("BEGIN")
    agents = [admin_id]
    for i in range(1, AGENTS):
        lang = gen.language()
        cur = db.execute(
            "INSERT INTO users (tenant_id, email, name, role, password_hash, language, time_zone, is_active,"
            " session_epoch, created_at) VALUES (?, ?, ?, 'agent', NULL, ?, NULL, 1, 0, ?)",
            (TENANT_ID, f"agent{i}@example.com", gen.name(lang), lang, ts(start)),
        )
        agents.append(cur.lastrowid)
    team_ids = []
    for name in TEAMS:
        team_ids.append(
            db.execute(
                "INSERT INTO teams (tenant_id, name, created_at) VALUES (?, ?, ?)", (TENANT_ID, name, ts(start))
            ).lastrowid
        )
    for user in agents:
        for team in rng.sample(team_ids, rng.randint(1, 2)):
            db.execute(
                "INSERT INTO team_memberships (team_id, user_id, tenant_id) VALUES (?, ?, ?)", (team, user, TENANT_ID)
            )
    for key, label, kind in (("customer_no", "Customer number", "text"), ("tier", "Tier", "choice")):
        db.execute(
            "INSERT INTO custom_field_definitions (tenant_id, entity, key, label, field_type, choices, created_at)"
            " VALUES (?, 'contact', ?, ?, ?, ?, ?)",
            (TENANT_ID, key, label, kind, json.dumps(["gold", "silver"] if kind == "choice" else []), ts(start)),
        )
    organisations = []
    for i in range(max(10, conversations // 300)):
        name = f"{rng.choice(('Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Kft', 'GmbH'))} {i}"
        organisations.append(
            (
                db.execute(
                    "INSERT INTO organisations (tenant_id, name, domain, notes, custom_fields, created_at, updated_at)"
                    " VALUES (?, ?, NULL, '', '{}', ?, ?)",
                    (TENANT_ID, name, ts(start), ts(start)),
                ).lastrowid,
                name,
            )
        )
    db.execute("COMMIT")

    n_contacts = max(10, int(conversations * 0.4))
    contacts: list[tuple[int, str]] = []  # (id, language)
    contact_rows, identity_rows, fts_rows = [], [], []
    for i in range(1, n_contacts + 1):
        lang = gen.language()
        name = gen.name(lang)
        org = rng.choice(organisations) if rng.random() < 0.3 else None
        created = start + timedelta(seconds=rng.uniform(0, HISTORY_DAYS * 86400))
        fields = {"customer_no": f"K{100000 + i}"} if rng.random() < 0.5 else {}
        contact_rows.append(
            (
                i,
                TENANT_ID,
                name,
                lang,
                None,
                org[0] if org else None,
                "",
                json.dumps(fields),
                None,
                ts(created),
                ts(created),
            )
        )
        email = f"{ascii_fold(name).lower().replace(' ', '.')}.{i}@example.{rng.choice(('com', 'de', 'hu'))}"
        values = [email]
        identity_rows.append((TENANT_ID, i, "email", email, ts(created)))
        if rng.random() < 0.3:
            phone = f"+3620{1000000 + i:07d}" if lang == "hu" else f"+49151{10000000 + i:08d}"
            values.append(phone)
            identity_rows.append((TENANT_ID, i, "phone", phone, ts(created)))
        body = " ".join([*values, org[1] if org else "", ""]).strip()
        fts_rows.append((i * 4 + KIND_CODES["contact"], f"t{TENANT_ID} kcontact", name, body, "contact", i, None, i))
        contacts.append((i, lang))
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO contacts (id, tenant_id, name, language, time_zone, organisation_id, notes, custom_fields,"
        " merged_into_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        contact_rows,
    )
    db.executemany(
        "INSERT INTO contact_identities (tenant_id, contact_id, kind, value, created_at) VALUES (?, ?, ?, ?, ?)",
        identity_rows,
    )
    db.executemany(CONTACT_FTS_INSERT, fts_rows)
    db.execute("COMMIT")
    del contact_rows, identity_rows, fts_rows

    # -- how many messages each conversation gets: 1..60, mean messages/conversations, exact total
    mean = messages / conversations
    counts = [max(1, min(60, round(rng.expovariate(1 / max(mean - 0.5, 0.5)) + 0.5))) for _ in range(conversations)]
    diff = messages - sum(counts)
    while diff:
        i = rng.randrange(conversations)
        if diff > 0 and counts[i] < 60:
            counts[i] += 1
            diff -= 1
        elif diff < 0 and counts[i] > 1:
            counts[i] -= 1
            diff += 1
    # Returning customers: a few contacts write often (Zipf-ish), most once or twice.
    contact_weights = [1 / (r + 1) ** 0.6 for r in range(len(contacts))]
    conv_contacts = rng.choices(contacts, contact_weights, k=conversations)
    # Conversation ids in time order: spread the starts over the history, newest last.
    starts = sorted(
        start + timedelta(seconds=rng.uniform(0, HISTORY_DAYS * 86400 - 3600)) for _ in range(conversations)
    )

    tag_ids = {}
    db.execute("BEGIN")
    for tag in TAG_WORDS:
        tag_ids[tag] = db.execute(
            "INSERT INTO tags (tenant_id, name, usage_count, created_at) VALUES (?, ?, 0, ?)",
            (TENANT_ID, tag, ts(start)),
        ).lastrowid
    db.execute("COMMIT")
    tag_usage = dict.fromkeys(TAG_WORDS, 0)

    samples: dict[str, list] = {"order_numbers": [], "conversation_ids": []}
    message_id = 0
    progress = Progress(
        TextColumn("   {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    plain = not sys.stdout.isatty()  # no live bar in a log file: a line every 10 % instead
    next_report = conversations // 10
    with progress:
        task = progress.add_task("conversations", total=conversations)
        for first in range(0, conversations, batch):
            conv_rows, msg_rows, fts_rows, timeline_rows, ctag_rows = [], [], [], [], []
            for idx in range(first, min(conversations, first + batch)):
                cid = idx + 1
                contact_id, lang = conv_contacts[idx]
                age_days = (now - starts[idx]).total_seconds() / 86400
                status = weighted(rng, next(t for limit, t in STATUSES_BY_AGE if age_days < limit))
                priority = weighted(rng, PRIORITIES)
                channel = weighted(rng, CHANNELS)
                subject = gen.subject(lang)
                if "ORD-" in subject and len(samples["order_numbers"]) < 50:
                    samples["order_numbers"].append(subject.split("ORD-")[1].split()[0])
                assignee = (
                    None
                    if status == "new" and rng.random() < 0.8
                    else (admin_id if rng.random() < ADMIN_SHARE else rng.choice(agents[1:]))
                )
                team = rng.choice(team_ids) if rng.random() < 0.7 else None
                tags = sorted(set(rng.sample(TAG_WORDS, rng.choice((0, 0, 1, 1, 2, 3)))))
                created = starts[idx]
                moment = created
                author = assignee or rng.choice(agents)
                preview, last_activity, first_response = "", created, None
                for m in range(counts[idx]):
                    message_id += 1
                    if m == 0:
                        direction = "inbound"
                    elif rng.random() < 0.1:
                        direction = "note"
                    else:
                        direction = "outbound" if m % 2 else "inbound"
                    moment = min(now, moment + timedelta(minutes=rng.expovariate(1 / 240)))
                    chars = max(60, min(4000, int(rng.lognormvariate(6.1, 0.6))))  # median ~450, mean ~540
                    text = gen.body(lang, chars)
                    msg_rows.append(
                        (
                            message_id,
                            TENANT_ID,
                            cid,
                            direction,
                            channel,
                            author if direction != "inbound" else None,
                            contact_id if direction == "inbound" else None,
                            text,
                            "",
                            None,
                            None,
                            ts(moment),
                        )
                    )
                    fts_rows.append(
                        (
                            message_id * 4 + KIND_CODES["message"],
                            f"t{TENANT_ID} kmessage",
                            subject,
                            text,
                            "message",
                            message_id,
                            cid,
                            contact_id,
                        )
                    )
                    if direction != "note":
                        preview = " ".join(text.split())[:160]
                        last_activity = moment
                    if direction == "outbound" and first_response is None:
                        first_response = moment
                solved = ts(moment + timedelta(hours=1)) if status in ("solved", "closed") else None
                conv_rows.append(
                    (
                        cid,
                        TENANT_ID,
                        cid,
                        subject,
                        status,
                        priority,
                        channel,
                        lang,
                        contact_id,
                        assignee,
                        team,
                        json.dumps(tags),
                        None,
                        counts[idx],
                        preview,
                        ts(created),
                        solved or ts(last_activity),
                        ts(last_activity),
                        ts(first_response) if first_response else None,
                        solved,
                    )
                )
                fts_rows.append(
                    (
                        cid * 4 + KIND_CODES["conversation"],
                        f"t{TENANT_ID} kconversation",
                        f"#{cid} {subject}",
                        " ".join(tags),
                        "conversation",
                        cid,
                        cid,
                        contact_id,
                    )
                )
                timeline_rows.append((TENANT_ID, cid, None, "created", json.dumps({"channel": channel}), ts(created)))
                if assignee is not None:
                    timeline_rows.append(
                        (TENANT_ID, cid, author, "assignee", json.dumps({"old": None, "new": assignee}), ts(created))
                    )
                if status != "new":
                    timeline_rows.append(
                        (
                            TENANT_ID,
                            cid,
                            author,
                            "status",
                            json.dumps({"old": "new", "new": "open"}),
                            ts(created + timedelta(minutes=5)),
                        )
                    )
                if solved:
                    timeline_rows.append(
                        (TENANT_ID, cid, author, "status", json.dumps({"old": "open", "new": status}), solved)
                    )
                for tag in tags:
                    tag_usage[tag] += 1
                    ctag_rows.append((cid, tag_ids[tag], TENANT_ID))
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO conversations (id, tenant_id, number, subject, status, priority, channel, language,"
                " contact_id, assignee_id, team_id, tags, merged_into_id, message_count, preview, created_at,"
                " updated_at, last_activity_at, first_response_at, solved_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                conv_rows,
            )
            db.executemany(
                "INSERT INTO messages (id, tenant_id, conversation_id, direction, channel, author_user_id,"
                " author_contact_id, body_text, body_html, external_id, delivery_status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                msg_rows,
            )
            db.executemany(
                "INSERT INTO timeline_events (tenant_id, conversation_id, actor_user_id, kind, details, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                timeline_rows,
            )
            db.executemany(
                "INSERT INTO conversation_tags (conversation_id, tag_id, tenant_id) VALUES (?, ?, ?)", ctag_rows
            )
            db.executemany(FTS_INSERT, fts_rows)
            db.execute("COMMIT")
            progress.update(task, advance=len(conv_rows))
            done = first + len(conv_rows)
            if plain and done >= next_report:
                print(
                    f"   {done:,}/{conversations:,} conversations, {message_id:,} messages "
                    f"({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
                next_report += conversations // 10

    db.execute("BEGIN")
    for tag, used in tag_usage.items():
        db.execute("UPDATE tags SET usage_count = ? WHERE id = ?", (used, tag_ids[tag]))
    db.execute("UPDATE tenants SET next_conversation_number = ? WHERE id = ?", (conversations + 1, TENANT_ID))
    db.execute("COMMIT")
    # As an installation that grew for years would be: WAL on, no ANALYZE, no FTS 'optimize'.
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA idx.journal_mode=WAL")
    db.close()
    samples["conversation_ids"] = rng.sample(range(1, conversations + 1), min(1000, conversations))
    meta = {
        "conversations": conversations,
        "messages": message_id,
        "contacts": n_contacts,
        "seed": seed,
        "generator": GENERATOR_VERSION,
        "head": head_revision(),
        "build_seconds": round(time.perf_counter() - started),
        **samples,
    }
    building.rename(path)
    meta_path.write_text(json.dumps(meta))
    shutil.rmtree(work, ignore_errors=True)
    print(f"   built in {meta['build_seconds']} s: {path} ({path.stat().st_size / 1e9:.2f} GB)")
    return Built(path, conversations, message_id, meta)


FTS_DDL = tuple(
    f"CREATE VIRTUAL TABLE idx.{table} USING fts5(scope, title, body, kind UNINDEXED, ref_id UNINDEXED,"
    " conversation_id UNINDEXED, contact_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')"
    for table in (DOCUMENT_TABLE, CONTACT_TABLE)
)
FTS_INSERT = (
    f"INSERT INTO idx.{DOCUMENT_TABLE} (rowid, scope, title, body, kind, ref_id, conversation_id, contact_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
CONTACT_FTS_INSERT = FTS_INSERT.replace(f"idx.{DOCUMENT_TABLE}", f"idx.{CONTACT_TABLE}")


# --- timing --------------------------------------------------------------------------------


def search_queries(meta: dict[str, object]) -> list[tuple[str, str]]:
    """(label, query): common, rare, folded, prefix, two-word, order numbers, names."""
    orders = list(meta.get("order_numbers") or [])[:3]  # type: ignore[call-overload]
    queries = [
        ("common-en", "refund"),
        ("common-en", "invoice"),
        ("common-de", "rechnung"),
        ("common-hu", "számla"),
        ("folded-hu", "koszonom"),
        ("folded-de", "grusse"),
        ("folded-de", "ruckerstattung"),
        ("prefix", "liefer"),
        ("prefix", "szall"),
        ("two-word", "refund delivery"),
        ("two-word", "paket beschädigt"),
        ("two-word", "csomag sérült"),
        ("rare", RARE[0]),
        ("rare", RARE[1]),
        ("rare-folded", "brummelbar"),
        ("name", "kovács"),
        ("name", "müller jürgen"),
        ("none", "xylophonequartet"),
    ]
    queries += [("order-no", f"ORD-{n}") for n in orders]
    queries += [("order-digits", n) for n in orders[:2]]
    return queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=None, help="default: 10 per conversation")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page kind (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per page kind first")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument(
        "--only",
        choices=("inbox", "conversation", "search"),
        action="append",
        help="time only these kinds (repeatable)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=180,
        help="wait up to this many seconds for other processes to go quiet (default 180)",
    )
    parser.add_argument("--profile", choices=("py-spy", "py-spy-gil", "py-spy-idle", "pyinstrument"), default=None)
    args = parser.parse_args()
    messages = args.messages or args.conversations * 10

    print_header(f"pages: inbox, conversation, search at {args.conversations:,} conversations / {messages:,} messages")
    if args.rebuild:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{cache_path(args.conversations, messages)}{suffix}").unlink(missing_ok=True)
    built = build(args.conversations, messages, args.seed)
    if args.build_only:
        print(headline(conversations=built.conversations, messages=built.messages))
        return 0

    import httpx

    var_dir = Path(tempfile.mkdtemp(prefix="helpline-bench-pages-"))
    url = f"sqlite:///{built.path}"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    pyinstrument_out = PROFILES / f"pages-{stamp}.pyinstrument.txt" if args.profile == "pyinstrument" else None
    kinds = args.only or ["inbox", "conversation", "search"]
    rng = random.Random(args.seed)
    timings: dict[str, list[float]] = {}
    statuses: dict[str, dict[int, int]] = {}
    server = None
    spy = None
    spy_out = PROFILES / f"pages-{stamp}.{args.profile}.txt"
    try:
        server = start_server(url, var_dir, pyinstrument_out=pyinstrument_out)
        print(f"   server pid {server.pid} at {server.url}")
        with httpx.Client(base_url=server.url, timeout=60) as http:
            response = http.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "next": "/inbox"})
            if response.status_code != 303 or "helpline_session" not in http.cookies:
                raise SystemExit(f"login failed: HTTP {response.status_code} {response.text[:300]}")

            ids = list(built.meta["conversation_ids"])  # type: ignore[call-overload]
            queries = search_queries(built.meta)

            def requests_for(kind: str, label: str, path: str, n: int) -> list[tuple[str, str, str]]:
                if kind == "inbox":
                    return [(kind, label, path)] * n
                if kind == "conversation":
                    return [(kind, "random", f"/conversations/{rng.choice(ids)}") for _ in range(n)]
                return [
                    (kind, label, "/api/v1/search?" + urlencode({"q": q}))
                    for label, q in (queries * (n // len(queries) + 1))[:n]
                ]

            work: dict[str, list[tuple[str, str, str]]] = {}
            if "inbox" in kinds:
                work["inbox"] = [
                    r
                    for label, path in (("all_open", "/inbox?view=all_open"), ("mine", "/inbox?view=mine"))
                    for r in requests_for("inbox", label, path, args.requests)
                ]
            if "conversation" in kinds:
                work["conversation"] = requests_for("conversation", "", "", args.requests)
            if "search" in kinds:
                work["search"] = requests_for("search", "", "", args.requests)
            # warm-up (connections, caches, the OS page cache over the tables the pages touch)
            for items in work.values():
                for _k, _label, path in items[: args.warmup]:
                    http.get(path)
            wait_until_quiet(args.quiet_wait)
            if args.profile and args.profile.startswith("py-spy"):
                total = sum(len(v) for v in work.values())
                spy = start_py_spy(server.pid, spy_out, max(5.0, total * 0.06), args.profile)
                time.sleep(1.0)
            cpu0, busy0, wall0 = server.cpu_seconds(), system_busy_seconds(), time.perf_counter()
            for kind, items in work.items():
                rng.shuffle(items)
                for _k, label, path in items:
                    started = time.perf_counter()
                    response = http.get(path)
                    elapsed = (time.perf_counter() - started) * 1000
                    timings.setdefault(kind, []).append(elapsed)
                    timings.setdefault(f"{kind}:{label}", []).append(elapsed)
                    statuses.setdefault(kind, {}).setdefault(response.status_code, 0)
                    statuses[kind][response.status_code] += 1
            server_cpu = server.cpu_seconds() - cpu0
            wall = time.perf_counter() - wall0
            system_cpu = system_busy_seconds() - busy0
        if spy is not None:
            spy.wait(120)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(var_dir, ignore_errors=True)

    print(
        f"   {sum(len(timings.get(k, [])) for k in kinds)} timed requests, server CPU {100 * server_cpu / wall:.0f}% "
        f"of one core while timing; everything else (client included) {100 * (system_cpu - server_cpu) / wall:.0f}% "
        f"(of 200%); load average {loadavg()}"
    )
    print(f"   HTTP statuses: {statuses}")
    print(f"   {'request':<28} {'n':>5} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  (ms)")
    for key in sorted(timings):
        values = timings[key]
        print(
            f"   {key:<28} {len(values):>5} {percentile(values, 50):>8.1f} {percentile(values, 95):>8.1f} "
            f"{percentile(values, 99):>8.1f} {max(values):>8.1f}"
        )
    inbox = percentile(timings.get("inbox", []), 95)
    conversation = percentile(timings.get("conversation", []), 95)
    search = percentile(timings.get("search", []), 95)
    for name, value, target in (
        ("inbox", inbox, TARGET_PAGE_P95_MS),
        ("conversation", conversation, TARGET_PAGE_P95_MS),
        ("search", search, TARGET_SEARCH_P95_MS),
    ):
        if value == value:  # not NaN
            verdict = "met" if value < target else f"MISSED ({value / target:.1f}x the limit)"
            print(f"   {name} p95 < {target} ms: {verdict}")
    if spy is not None:
        print(f"   py-spy stacks: {spy_out}  (summary: .venv/bin/python bench/profile_summary.py {spy_out})")
    if pyinstrument_out is not None:
        print(f"   pyinstrument report: {pyinstrument_out}")
    print(
        headline(
            inbox_p95_ms=inbox,
            conversation_p95_ms=conversation,
            search_p95_ms=search,
            conversations=built.conversations,
            messages=built.messages,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
