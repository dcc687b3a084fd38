"""A throwaway Dovecot 2.3 IMAP server for tests: free port, config in a short temp dir, SIGTERM by PID.

Verified set-up: /work/shared/recipes/dovecot (Debian 12's dovecot-imapd). As root the mail
processes run as ``nobody``; as any other user everything runs as that user (no chroot).

``dovecot`` speaks plain IMAP; ``dovecot_tls`` also offers STARTTLS on that port and implicit TLS
(IMAPS, 993-style) on ``ssl_port``, with a certificate signed by the test CA (``certificates``).
"""

from __future__ import annotations

import imaplib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.channels.email.certificates import Certificates, ServerCert
from tests.conftest import free_port

CONF = """\
protocols = imap
listen = 127.0.0.1
instance_name = dc-{port}
base_dir = {root}/run
state_dir = {root}/state
log_path = /dev/stderr
info_log_path = /dev/stderr
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
# Failed logins answer after a delay (default 2 s): keep the wrong-password test quick.
auth_failure_delay = 0
# IDLE learns of new mail by inotify, else by looking every interval (default 30 s): look often.
mailbox_idle_check_interval = 1 secs
mail_location = maildir:{root}/mail/%u/Maildir
{users}
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = {userdb}home={root}/mail/%u
}}
service anvil {{
  {chroot}
}}
service imap-login {{
  {chroot}
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
  }}
}}
"""


@dataclass
class Dovecot:
    host: str
    port: int
    user: str
    password: str
    root: Path
    ssl_port: int = 0  # IMAPS (implicit TLS); 0 when the server has no TLS

    def connect(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        client = self.connect()
        try:
            status, data = client.append(folder, None, None, raw)
            assert status == "OK", data
        finally:
            client.logout()

    def flags(self, folder: str = "INBOX") -> list[set[str]]:
        """Each message's flags in the folder, in order."""
        client = self.connect()
        try:
            status, data = client.select(folder)
            if status != "OK" or int(data[0] or 0) == 0:  # no such folder (yet), or empty
                return []
            _status, rows = client.fetch("1:*", "(FLAGS)")
            return [set(re.search(rb"FLAGS \(([^)]*)\)", row).group(1).decode().split()) for row in rows if row]  # type: ignore[union-attr]
        finally:
            client.logout()

    def clear_flags(self, folder: str = "INBOX") -> None:
        """Make every message look new again, as if the poller had died before flagging."""
        client = self.connect()
        try:
            client.select(folder)
            client.store("1:*", "-FLAGS", r"(\Seen $HelplineImported)")
        finally:
            client.logout()

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _binary() -> str:
    found = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
    if not found:
        pytest.fail(
            "dovecot is not installed: the IMAP tests need a real IMAP server. "
            "`make test` installs it (Debian's dovecot-imapd), or run `apt-get install dovecot-imapd`.",
            pytrace=False,
        )
    return found


@pytest.fixture(name="dovecot")
def dovecot_server() -> Iterator[Dovecot]:
    """A fresh Dovecot with one user; import ``dovecot_server`` into a test module to use ``dovecot``."""
    yield from _serve(None)


@pytest.fixture(name="dovecot_tls")
def dovecot_tls_server(certificates: Certificates) -> Iterator[Dovecot]:
    """Dovecot with STARTTLS on ``port`` and IMAPS on ``ssl_port``; import ``dovecot_tls_server`` and
    ``certificates_fixture`` into a test module to use ``dovecot_tls``."""
    yield from _serve(certificates.signed)


def _serve(tls: ServerCert | None) -> Iterator[Dovecot]:
    binary = _binary()
    # Short path: Dovecot's unix sockets under base_dir must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="dc", dir="/tmp"))
    os.chmod(root, 0o755)
    port = free_port()
    ssl_port = free_port() if tls else 0  # 0 turns the IMAPS listener off
    ssl = f"ssl = yes\nssl_cert = <{tls.cert}\nssl_key = <{tls.key}" if tls else "ssl = no"
    user, password = "support@example.test", "s3cret-Passw0rd"
    (root / "users").write_text(f"{user}:{{PLAIN}}{password}\n")
    (root / "mail").mkdir()
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(root / "mail", nobody.pw_uid, nobody.pw_gid)  # mail processes never run as uid 0
        users, userdb, chroot = "", "uid=nobody gid=nogroup ", ""
    else:
        me = pwd.getpwuid(os.geteuid()).pw_name
        users = f"default_internal_user = {me}\ndefault_internal_group = {me}\ndefault_login_user = {me}"
        userdb, chroot = "", "chroot ="
    (root / "dovecot.conf").write_text(
        CONF.format(root=root, port=port, ssl_port=ssl_port, ssl=ssl, users=users, userdb=userdb, chroot=chroot)
    )
    log = (root / "dovecot.log").open("wb")
    process = subprocess.Popen([binary, "-F", "-c", str(root / "dovecot.conf")], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"* OK"):
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            text = (root / "dovecot.log").read_text(errors="replace")[-4000:]
            shutil.rmtree(root, ignore_errors=True)
            pytest.fail(f"dovecot did not start:\n{text}")
        time.sleep(0.02)
    try:
        yield Dovecot("127.0.0.1", port, user, password, root, ssl_port)
    finally:
        process.terminate()  # SIGTERM to the master only; it stops its children (~1 s)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
