"""A private Apache with mod_dav (Debian's ``apache2``) on loopback, for tests and benches.

Everything lives in a temporary directory: the configuration (its own ServerRoot,
PidFile, ErrorLog, lock database and runtime dir), the ``htpasswd`` file and the served
folder. Apache is started with ``apache2 -f CONF -k start`` and stopped by the pid in
its own PidFile; the system's ``/etc/apache2`` and any Apache it runs are never touched.
The access log records every request's method and path, so tests count GETs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from tests.servers import free_port

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
USER, PASSWORD = "crawler", "dav-crawler-pass-7"

CONF = """
ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/httpd.pid"
ErrorLog "{root}/error.log"
DefaultRuntimeDir "{root}/run"
LogLevel warn
User {user}
Group {group}
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule auth_basic_module {modules}/mod_auth_basic.so
LoadModule authn_file_module {modules}/mod_authn_file.so
LoadModule authz_user_module {modules}/mod_authz_user.so
LoadModule dav_module {modules}/mod_dav.so
LoadModule dav_fs_module {modules}/mod_dav_fs.so
LoadModule alias_module {modules}/mod_alias.so
LogFormat "%m %U %>s" methods
CustomLog "{root}/access.log" methods
DavLockDB "{root}/lock/DavLock"
DocumentRoot "{root}/htdocs"
<Directory />
    Require all denied
</Directory>
Alias /dav "{root}/dav"
<Directory "{root}/dav">
    Dav On
    AuthType Basic
    AuthName "Savoir test share"
    AuthBasicProvider file
    AuthUserFile "{root}/htpasswd"
    Require valid-user
</Directory>
# a folder the crawler may not list: its PROPFIND answers 403
<Directory "{root}/dav/partial/locked">
    Require user someone-else
</Directory>
"""


def installed() -> bool:
    return Path(APACHE).is_file() and (MODULES / "mod_dav_fs.so").is_file() and shutil.which("htpasswd")


class WebdavServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="savoir-webdav-"))
        self.port = free_port()
        self.share = self.root / "dav"
        self.url = f"http://127.0.0.1:{self.port}/dav/"
        self.pid: int | None = None

    def start(self) -> WebdavServer:
        for folder in ("dav", "htdocs", "run", "lock"):
            (self.root / folder).mkdir()
        # Apache drops root for www-data (or nobody): its lock database must be writable
        user, group = ("www-data", "www-data") if _has_user("www-data") else ("nobody", "nogroup")
        shutil.chown(self.root / "lock", user, group)
        os.chmod(self.root, 0o755)
        subprocess.run(
            ["htpasswd", "-b", "-c", "-B", str(self.root / "htpasswd"), USER, PASSWORD],
            check=True,
            capture_output=True,
        )
        conf = self.root / "httpd.conf"
        conf.write_text(
            CONF.format(root=self.root, port=self.port, modules=MODULES, user=user, group=group),
            encoding="utf-8",
        )
        subprocess.run([APACHE, "-f", str(conf), "-k", "start"], check=True, capture_output=True, timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                pid = int((self.root / "httpd.pid").read_text())
                requests.request("OPTIONS", self.url, timeout=2)
                self.pid = pid
                return self
            except (OSError, ValueError, requests.RequestException):
                time.sleep(0.1)
        raise RuntimeError(f"Apache did not start: {self.error_log()}")

    def error_log(self) -> str:
        path = self.root / "error.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def requests_seen(self) -> list[tuple[str, str]]:
        """(method, unquoted path) of every request so far. Apache logs a request once its
        answer is sent, so the log is read until it has stopped growing for 0.15 s."""
        path, size, quiet_since = self.root / "access.log", -1, time.monotonic()
        while time.monotonic() - quiet_since < 0.15:
            now = path.stat().st_size if path.exists() else 0
            if now != size:
                size, quiet_since = now, time.monotonic()
            time.sleep(0.03)
        lines = path.read_text(errors="replace").splitlines()
        return [(line.split(" ")[0], line.split(" ")[1]) for line in lines if line.count(" ") >= 2]

    def stop(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGTERM)  # Apache's parent stops its own children
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _alive(self.pid):
                time.sleep(0.1)
            if _alive(self.pid):
                os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
