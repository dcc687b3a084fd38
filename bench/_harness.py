"""Shared plumbing for the bench scripts: a real `helpline serve` process, the CLI, a lean
HTTP/1.1 client, percentiles, CPU accounting, profiling hooks and a description of the machine.

Not a test helper: nothing here imports the app in-process; the server under test is always a
separate `python -m helpline.cli serve` process, exactly as an operator would run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_VAR = ROOT / "var" / "bench"
PROFILES = BENCH_VAR / "profiles"
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the machine ------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": mem_gib,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "git": _git_rev(),
    }


def _git_rev() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "src"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return rev + ("+dirty(src)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def system_busy_seconds() -> float:
    """CPU seconds all processes together have been busy (all cores), from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def wait_until_quiet(max_wait: float, threshold_cores: float = 0.3, window: float = 3.0) -> float:
    """Wait (up to max_wait s) until the rest of the machine uses < threshold_cores for a window.

    The benchmark machine is shared; returns the busy cores seen in the last window.
    """
    deadline = time.monotonic() + max_wait
    busy = float("nan")
    announced = False
    while True:
        before = system_busy_seconds()
        time.sleep(window)
        busy = (system_busy_seconds() - before) / window
        if busy < threshold_cores or time.monotonic() >= deadline:
            break
        if not announced:
            print(f"   machine busy ({busy:.2f} cores in use by other processes); waiting up to {max_wait:.0f} s")
            sys.stdout.flush()
            announced = True
    if busy >= threshold_cores:
        print(f"   WARNING: other processes still use {busy:.2f} cores; figures will be pessimistic")
    return busy


def print_header(title: str) -> None:
    info = machine()
    print(f"== {title}")
    print(
        f"   {info['date']} | nproc={info['nproc']} | {info['cpu']} | RAM {info['ram']} | "
        f"Python {info['python']} | SQLite {info['sqlite']} | git {info['git']} | load {loadavg()}"
    )
    sys.stdout.flush()


# --- statistics -------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the value below which pct % of the samples fall)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its threads, in seconds (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_tree(pid: int) -> list[int]:
    """The process and its living descendants (the server's mail workers and their fork server)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its living descendants."""
    return sum(seconds for seconds in map(proc_cpu_seconds, process_tree(pid)) if seconds == seconds)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its living descendants, summed (pages they share count in
    each, so this is an upper bound), in MB."""
    total = 0.0
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        total += next((int(line.split()[1]) / 1024 for line in lines if line.startswith("VmRSS:")), 0.0)
    return total or float("nan")


# --- the CLI and the server ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str, var_dir: Path, port: int | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "HELPLINE_DATABASE_URL": database_url,
        "HELPLINE_VAR_DIR": str(var_dir),
        "HELPLINE_SECRET_KEY": "bench-secret-key",
        # The benchmark logs in and calls the API from one address, many times.
        "HELPLINE_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
    }
    env.pop("HELPLINE_REDIS_URL", None)
    if port is not None:
        env["HELPLINE_PORT"] = str(port)
    return env


def cli(database_url: str, var_dir: Path, *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "-m", "helpline.cli", *args],
        env=server_env(database_url, var_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"helpline {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def create_admin(database_url: str, var_dir: Path, email: str, password: str) -> None:
    cli(
        database_url,
        var_dir,
        "user",
        "create",
        "--email",
        email,
        "--role",
        "admin",
        "--password",
        password,
        "--name",
        "Bench Admin",
    )


def create_token(database_url: str, var_dir: Path, email: str) -> str:
    return cli(database_url, var_dir, "token", "create", "--email", email, "--name", "bench").strip().splitlines()[-1]


@dataclass
class Server:
    url: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    var_dir: Path
    profiler: subprocess.Popen[bytes] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """The server's CPU seconds, its mail workers' included."""
        return tree_cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGINT: uvicorn shuts down cleanly (and pyinstrument, if wrapping, writes its report).
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""


def start_server(
    database_url: str,
    var_dir: Path,
    *,
    pyinstrument_out: Path | None = None,
    instrument: dict[str, str] | None = None,
    timeout: float = 60,
) -> Server:
    """`helpline serve` on a free port; waits for /healthz.

    ``pyinstrument_out``: wrap the server in pyinstrument (text report written when it stops).
    ``instrument``: run bench/_serve_instrumented.py with these BENCH_* variables (diagnosis only).
    """
    import httpx

    port = free_port()
    var_dir.mkdir(parents=True, exist_ok=True)
    log = var_dir / "server.log"
    serve = ["-m", "helpline.cli", "serve", "--log-level", "warning"]
    env = server_env(database_url, var_dir, port)
    if instrument:
        serve = [str(Path(__file__).with_name("_serve_instrumented.py")), "serve", "--log-level", "warning"]
        env.update(instrument)
    if pyinstrument_out is not None:
        pyinstrument_out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [PYTHON, "-m", "pyinstrument", "-r", "text", "--show-all", "-o", str(pyinstrument_out), *serve]
    else:
        cmd = [PYTHON, *serve]
    process = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"helpline serve exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return Server(url, "127.0.0.1", port, process, log, var_dir)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"helpline serve did not come up:\n{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def running_server(database_url: str, var_dir: Path, **kwargs: object) -> Iterator[Server]:
    server = start_server(database_url, var_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


# --- profiling ---------------------------------------------------------------------------------


def py_spy_path() -> str | None:
    candidate = Path(PYTHON).with_name("py-spy")
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def start_py_spy(pid: int, out: Path, duration: float, mode: str = "py-spy") -> subprocess.Popen[bytes]:
    """Sample the server with py-spy (collapsed stacks; summarise with bench/profile_summary.py).

    ``py-spy``: every thread that is not idle (a thread waiting for the GIL counts as busy);
    ``py-spy-gil``: only the thread holding the GIL (where the interpreter's CPU goes);
    ``py-spy-idle``: every thread, idle or not (wall clock).
    """
    exe = py_spy_path()
    if exe is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy (it is in the bench extra)")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(duration))),
        "--rate",
        "250",
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
        "--threads",
    ]
    if mode == "py-spy-gil":
        cmd.append("--gil")
    elif mode == "py-spy-idle":
        cmd.append("--idle")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# --- a lean HTTP/1.1 keep-alive client -----------------------------------------------------------


class HttpError(Exception):
    pass


class RawConnection:
    """One keep-alive HTTP/1.1 connection over asyncio streams.

    The load generator shares two cores with the server; httpx costs several times more CPU
    per request than this, and every cycle the client burns is one the server does not get.
    """

    def __init__(self, host: str, port: int, default_headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        base = {"Host": f"{host}:{port}", "User-Agent": "helpline-bench", **(default_headers or {})}
        self._base = "".join(f"{k}: {v}\r\n" for k, v in base.items()).encode()

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.reader = self.writer = None

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._base
        if body or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n".encode()
        self.writer.write(head + b"\r\n" + body)
        raw_head = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError) as exc:
            raise HttpError(f"bad status line {lines[0]!r}") from exc
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        if "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            data = b"".join(chunks)
        else:
            data = b""
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, data


# --- output ------------------------------------------------------------------------------------


def headline(**figures: object) -> str:
    """The last line of every bench script: key=value pairs."""
    parts = []
    for key, value in figures.items():
        parts.append(f"{key}={value:.1f}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)
