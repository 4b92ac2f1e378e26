"""A private Samba (Debian's ``samba``) on loopback, for tests and benches.

Everything lives in a temporary directory: the ``smb.conf`` (loopback only, a free high
port, NetBIOS off), Samba's private, lock, state, cache and pid directories, its own
``tdbsam`` password database and the shared folder. ``smbd --foreground
--no-process-group`` runs as a child of the tests and is stopped by its own pid; the
system's ``/etc/samba`` and any Samba it runs are never read or touched.

The share's account, ``crawler``, is a Samba user only: ``username map`` maps it to the
Unix account ``nobody``, so no system user is created. Files are then read with
``nobody``'s rights, and a folder with mode 0700 is one the crawler may not list.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.servers import free_port

SMBD = shutil.which("smbd") or "/usr/sbin/smbd"
SMBPASSWD = shutil.which("smbpasswd") or "/usr/bin/smbpasswd"
INSTALL = "apt-get install -y --no-install-recommends samba (.ci/run does)"
USER, PASSWORD = "crawler", "smb-crawler-pass-9"
UNIX_USER = "nobody"
SHARE = "docs"

CONF = """
[global]
    netbios name = SAVOIRTEST
    workgroup = SAVOIR
    server role = standalone server
    interfaces = 127.0.0.1
    bind interfaces only = yes
    smb ports = {port}
    disable netbios = yes
    server min protocol = SMB2_02
    private dir = {root}/private
    lock directory = {root}/lock
    state directory = {root}/state
    cache directory = {root}/cache
    pid directory = {root}/run
    ncalrpc dir = {root}/ncalrpc
    binddns dir = {root}/bind-dns
    log file = {root}/log/smbd.log
    log level = 1
    passdb backend = tdbsam:{root}/private/passdb.tdb
    username map = {root}/usermap
    map to guest = never
    restrict anonymous = 2
    load printers = no
    printing = bsd
    printcap name = /dev/null
    disable spoolss = yes
    registry shares = no
    usershare path =

[{share}]
    path = {root}/share
    read only = yes
    valid users = {user}
    browseable = yes
"""


def installed() -> bool:
    return Path(SMBD).is_file() and Path(SMBPASSWD).is_file()


class SambaServer:
    """``with``-less on purpose: a session fixture calls :meth:`start` and :meth:`stop`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="savoir-samba-"))
        self.port = free_port()
        self.share = self.root / "share"
        self.conf = self.root / "smb.conf"
        self.host = "127.0.0.1"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def unc(self) -> str:
        return rf"\\{self.host}\{SHARE}"

    def start(self) -> SambaServer:
        for folder in ("private", "lock", "state", "cache", "run", "ncalrpc", "bind-dns", "log", "share"):
            (self.root / folder).mkdir()
        os.chmod(self.root, 0o755)
        os.chmod(self.root / "private", 0o700)
        (self.root / "usermap").write_text(f"{UNIX_USER} = {USER}\n", encoding="utf-8")
        self.conf.write_text(
            CONF.format(root=self.root, port=self.port, share=SHARE, user=UNIX_USER), encoding="utf-8"
        )
        # the Samba account of the Unix account the user name maps to, in the private tdbsam
        subprocess.run(
            [SMBPASSWD, "-c", str(self.conf), "-a", "-s", UNIX_USER],
            input=f"{PASSWORD}\n{PASSWORD}\n".encode(),
            check=True,
            capture_output=True,
            timeout=30,
        )
        self.process = subprocess.Popen(
            [
                SMBD,
                "--foreground",
                "--no-process-group",
                f"--configfile={self.conf}",
                "--debug-stdout",
            ],
            stdout=(self.root / "log" / "stdout.log").open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # its own process group: smbd signals its whole group when it stops
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"smbd exited ({self.process.returncode}): {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"smbd did not listen on port {self.port}: {self.log()}")

    def log(self) -> str:
        text = ""
        for path in sorted((self.root / "log").glob("*.log")):
            text += path.read_text(errors="replace")[-1500:]
        return text

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)  # smbd stops the children it forked
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
            self.process = None
        shutil.rmtree(self.root, ignore_errors=True)
