"""A private WordPress (Debian's ``wordpress`` 6.1) with its own MariaDB, on loopback.

MariaDB runs from a temporary data directory (``mariadb-install-db``, then ``mariadbd``
on its own socket, no TCP), so the system's database is never touched. WordPress's
content directory (a small theme that calls ``wp_head()``, a must-use plugin that
exposes ``lang`` and ``translations`` in the REST API as bilingual plugins do) is in the
same temporary directory. The one file outside it is the host config Debian's
``wp-config.php`` requires, ``/etc/wordpress/config-<name>.php``; it is chosen by the
``WORDPRESS_CONFIG`` environment variable (a name of our own, so a site an admin set up
for 127.0.0.1 is never shadowed) and removed by :meth:`WordPress.stop`.

PHP's built-in server serves ``/usr/share/wordpress`` with plain permalinks, so the
REST API is at ``/?rest_route=/``. Content is loaded by tests/fixtures/wordpress/
savoir-wp.php through WordPress's own functions (wp_install, wp_insert_post...).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

CODE = Path("/usr/share/wordpress")
CONFIG_DIR = Path("/etc/wordpress")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wordpress"
TOOL = FIXTURES / "savoir-wp.php"
SITE = FIXTURES / "site.json"
ADMIN_PASSWORD = "savoir-admin-pass-12345"
CRAWLER = "savoircrawler"
#: the site's clock is five hours behind UTC (a fixed offset, no daylight saving), so
#: local and GMT times differ and a connector that mixes them up is caught
GMT_OFFSET = -5
PACKAGES = "wordpress mariadb-server php-mysql php-cli"


def missing() -> str | None:
    """Why a WordPress cannot be started here (None: it can)."""
    needs = {
        "wordpress": (CODE / "wp-load.php").is_file(),
        "mariadb-server": bool(shutil.which("mariadbd") or Path("/usr/sbin/mariadbd").exists())
        and bool(shutil.which("mariadb-install-db")),
        "php-cli": bool(shutil.which("php")),
    }
    if needs["php-cli"]:
        modules = subprocess.run(["php", "-m"], capture_output=True, text=True).stdout.split()
        needs["php-mysql"] = "mysqli" in modules
    absent = [name for name, ok in needs.items() if not ok]
    if not absent:
        return None
    return f"Debian packages missing: {', '.join(absent)} (apt-get install {PACKAGES}; .ci/run does)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _mariadbd() -> str:
    return shutil.which("mariadbd") or "/usr/sbin/mariadbd"


class WordPress:
    """One private site: :meth:`start` (database, install, content, server), :meth:`stop`."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="savoir-wp-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.name = f"savoir-test-{self.port}"
        self.config = CONFIG_DIR / f"config-{self.name}.php"
        self.socket = self.root / "mysqld.sock"
        self.content = self.root / "wp-content"
        #: what the loader created: users, posts and comments by fixture key -> id
        self.ids: dict[str, dict[str, int]] = {}
        self.app_passwords: dict[str, str] = {}
        self._processes: list[subprocess.Popen] = []

    # -- set-up ------------------------------------------------------------------------
    def start(self, site: Path = SITE) -> WordPress:
        try:
            self._start_database()
            self._write_config()
            answer = self.wp(
                {
                    "op": "install",
                    "site": json.loads(site.read_text("utf-8")),
                    "admin_password": ADMIN_PASSWORD,
                    "gmt_offset": GMT_OFFSET,
                    "app_passwords": [CRAWLER, "psingh"],
                }
            )
            self.app_passwords = answer.pop("app_passwords")
            self.ids = answer
            self._serve()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_database(self) -> None:
        data = self.root / "mysql"
        done = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {done.stdout}\n{done.stderr}")
        self._spawn(
            [
                _mariadbd(),
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={self.socket}",
                f"--pid-file={self.root / 'mysqld.pid'}",
                f"--log-error={self.root / 'mysqld.log'}",
                "--skip-networking",
                "--user=root",
                "--innodb-buffer-pool-size=32M",
                "--innodb-flush-log-at-trx-commit=0",
                "--skip-log-bin",
            ],
            "mysqld",
        )
        deadline = time.monotonic() + 30
        while not self._sql("SELECT 1", check=False):
            if time.monotonic() > deadline or self._processes[-1].poll() is not None:
                raise RuntimeError(f"MariaDB did not start; see {self.root / 'mysqld.log'}")
            time.sleep(0.1)
        self._sql("CREATE DATABASE wordpress CHARACTER SET utf8mb4")

    def _sql(self, statement: str, *, check: bool = True) -> bool:
        done = subprocess.run(
            ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "-e", statement],
            capture_output=True,
            text=True,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"MariaDB refused {statement!r}: {done.stderr}")
        return done.returncode == 0

    def _write_config(self) -> None:
        shutil.copytree(FIXTURES / "theme", self.content / "themes" / "savoir-test")
        shutil.copytree(FIXTURES / "mu-plugins", self.content / "mu-plugins")
        (self.content / "plugins").mkdir()
        (self.content / "uploads").mkdir()
        values = {
            "DB_NAME": "wordpress",
            "DB_USER": "root",
            "DB_PASSWORD": "",
            "DB_HOST": f"localhost:{self.socket}",
            "WP_HOME": self.base,
            "WP_SITEURL": self.base,
            "WP_CONTENT_DIR": str(self.content),
            # application passwords need HTTPS or a 'local' environment
            "WP_ENVIRONMENT_TYPE": "local",
            "DISABLE_WP_CRON": True,
            "AUTOMATIC_UPDATER_DISABLED": True,
            "WP_HTTP_BLOCK_EXTERNAL": True,
        }
        lines = ["<?php", "// written by tests/servers/wordpress.py; removed when the tests stop"]
        lines += [f"define({_php(k)}, {_php(v)});" for k, v in values.items()]
        CONFIG_DIR.mkdir(parents=True, exist_ok=True)
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _serve(self) -> None:
        # PHP's built-in server leaves the environment out of $_SERVER, where Debian's
        # wp-config.php looks for WORDPRESS_CONFIG: a prepended line puts it there
        prepend = self.root / "prepend.php"
        prepend.write_text("<?php\n$_SERVER['WORDPRESS_CONFIG'] = getenv('WORDPRESS_CONFIG');\n")
        self._spawn(
            ["php", "-d", f"auto_prepend_file={prepend}", "-S", f"127.0.0.1:{self.port}", "-t", str(CODE)],
            "php",
            workers=2,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{self.base}/", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"WordPress did not start on {self.base}; see {self.root / 'php.log'}")
            time.sleep(0.05)

    def _spawn(self, argv: list[str], name: str, *, workers: int = 0) -> None:
        env = self._env()
        if workers:
            env["PHP_CLI_SERVER_WORKERS"] = str(workers)
        with open(self.root / f"{name}.log", "wb") as log:
            # the server itself is our child (no shell): terminate() reaches it
            self._processes.append(
                subprocess.Popen(
                    argv,
                    cwd=CODE,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def _env(self) -> dict[str, str]:
        return {**os.environ, "WORDPRESS_CONFIG": self.name}

    # -- changes, through WordPress's own functions --------------------------------------
    def wp(self, command: dict[str, Any]) -> dict[str, Any]:
        done = subprocess.run(
            ["php", str(TOOL)],
            input=json.dumps(command),
            capture_output=True,
            text=True,
            env=self._env(),
            cwd=CODE,
        )
        if done.returncode != 0:
            raise RuntimeError(f"savoir-wp.php {command['op']} failed: {done.stdout}\n{done.stderr}")
        return json.loads(done.stdout[done.stdout.index("{") :])

    def post_id(self, key: str) -> int:
        return self.ids["posts"][key]

    def update_post(self, post_id: int, **fields: str) -> str:
        """Edit a post (``post_title``, ``post_content``, ``post_status``); its new modified_gmt."""
        return self.wp({"op": "update_post", "id": post_id, **fields})["modified_gmt"]

    def trash_post(self, post_id: int) -> None:
        assert self.wp({"op": "trash_post", "id": post_id})["trashed"]

    def add_posts(self, posts: list[dict[str, Any]], author: str = "wchen") -> list[int]:
        """Insert posts (title, content, date (GMT), categories, tags, comments: guest,
        email, content, date) by one author."""
        return self.wp({"op": "add_posts", "author": self.ids["users"][author], "posts": posts})["ids"]

    def add_comment(self, post_id: int, guest: str, email: str, content: str, date: str) -> int:
        comment = {"post": "p", "guest": guest, "email": email, "content": content, "date": date}
        return self.wp({"op": "add_comment", "post": post_id, "comment": comment, "users": {}})["id"]

    # -- tear-down ------------------------------------------------------------------------
    def stop(self) -> None:
        for process in reversed(self._processes):
            try:  # each is its own process group (start_new_session): PHP's workers go too
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._processes.clear()
        self.config.unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _php(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


_SHARED: WordPress | None = None


def shared(request: Any) -> WordPress:
    """The one site a test session shares (the wordpress and feed tests both use it),
    started on first use and stopped when the session's fixtures are torn down."""
    global _SHARED
    if _SHARED is None:
        site = WordPress().start()
        _SHARED = site

        def stop() -> None:
            global _SHARED
            site.stop()
            _SHARED = None

        request.addfinalizer(stop)
    return _SHARED
