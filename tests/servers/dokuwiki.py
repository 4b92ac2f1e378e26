"""A private DokuWiki (Debian's ``dokuwiki`` package) on loopback, for integration tests.

Nothing outside a temporary directory is touched: Debian's ``preload.php`` honours
``DOKU_CONF`` and ``DOKU_MAIN_CONF``, which a small ``auto_prepend_file`` defines to
point at a copy of ``/etc/dokuwiki`` whose ``local.php`` moves ``savedir`` into the
temporary directory. PHP's built-in server serves ``/usr/share/dokuwiki``.

History is made the way people make it: every edit goes through the XML-RPC API as
the user who made it (``wiki.putPage`` with the minor flag), a revert through the web
UI's revert action, and an "external edit" by writing the page file on disk. DokuWiki
keys revisions by the second, so two edits of one page are kept at least a second apart.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import tomllib
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

import requests

DOKUWIKI_CODE = Path("/usr/share/dokuwiki")
DOKUWIKI_CONF = Path("/etc/dokuwiki")
DATA_DIRS = (
    "pages",
    "attic",
    "meta",
    "media",
    "media_attic",
    "media_meta",
    "cache",
    "index",
    "locks",
    "tmp",
    "log",
)


@dataclass(frozen=True)
class WikiUser:
    login: str
    password: str
    name: str
    email: str
    groups: tuple[str, ...]


#: ``admin`` may do anything; ``@api`` members may use the API (``remoteuser``);
#: ``visitor`` may read the wiki in a browser but not through the API.
USERS = (
    WikiUser(
        "wikiadmin", "admin-pass-1", "Wiki Admin", "wikiadmin@records.example", ("admin", "user", "api")
    ),
    WikiUser("savoirbot", "bot-pass-1", "Savoir crawler", "savoir@records.example", ("user", "api")),
    WikiUser("mtremblay", "mt-pass-1", "Marie Tremblay", "marie.tremblay@clo.example", ("user", "api")),
    WikiUser("jsingh", "js-pass-1", "Jasdeep Singh", "jasdeep.singh@lac.example", ("user", "api")),
    WikiUser("agagnon", "ag-pass-1", "Antoine Gagnon", "antoine.gagnon@tbs.example", ("user", "api")),
    WikiUser("lchen", "lc-pass-1", "Li Chen", "li.chen@ssc.example", ("user", "api")),
    WikiUser("visitor", "visitor-pass-1", "Visiting Reader", "visitor@records.example", ("user",)),
)

ACL = """\
# acl.auth.php written by the Savoir tests
*\t@ALL\t0
*\t@user\t8
private:*\t@user\t0
private:*\t@admin\t16
"""


def php_hashes(passwords: list[str]) -> list[str]:
    """Hash passwords the way DokuWiki's plain auth stores them (PHP's password_hash)."""
    code = 'foreach (array_slice($argv, 1) as $p) { echo password_hash($p, PASSWORD_DEFAULT), "\\n"; }'
    out = subprocess.run(["php", "-r", code, "--", *passwords], check=True, capture_output=True, text=True)
    return out.stdout.split()


class DokuWiki:
    """One private wiki: ``start()``, edit it, ``stop()``. ``base`` is its URL."""

    def __init__(self, port: int, root: Path | None = None, *, recent: int = 3) -> None:
        self.port = port
        self.root = root or Path(tempfile.mkdtemp(prefix="savoir-dokuwiki-"))
        self.base = f"http://127.0.0.1:{port}"
        self.rpc_url = f"{self.base}/lib/exe/xmlrpc.php"
        self.conf = self.root / "conf"
        self.data = self.root / "data"
        self.recent = recent
        self.users = {u.login: u for u in USERS}
        self._last_edit: dict[str, float] = {}
        self._sessions: dict[str, requests.Session] = {}
        self._pid: int | None = None

    # -- set-up --------------------------------------------------------------
    def configure(self, **extra: object) -> None:
        """Write the private config copy, users, ACLs and an empty data directory."""
        skip = shutil.ignore_patterns("users.auth.php", "acl.auth.php", "local.php", "*.dist", "apache.conf")
        shutil.copytree(DOKUWIKI_CONF, self.conf, ignore=skip, dirs_exist_ok=True)
        for name in DATA_DIRS:
            (self.data / name).mkdir(parents=True, exist_ok=True)
        (self.root / "sessions").mkdir(exist_ok=True)
        settings: dict[str, object] = {
            "title": "Records and Languages Wiki",
            "lang": "en",
            "savedir": str(self.data),
            "useacl": 1,
            "authtype": "authplain",
            "superuser": "@admin",
            "remote": 1,
            "remoteuser": "@api",
            "recent": self.recent,
            "updatecheck": 0,
            "dnslookups": 0,
            "userewrite": 0,
            "useheading": 1,
            **extra,
        }
        lines = ["<?php", "// local.php written by the Savoir tests"]
        lines += [f"$conf[{_php(key)}] = {_php(value)};" for key, value in settings.items()]
        (self.conf / "local.php").write_text("\n".join(lines) + "\n")
        hashes = php_hashes([u.password for u in USERS])
        users = [
            f"{u.login}:{h}:{u.name}:{u.email}:{','.join(u.groups)}"
            for u, h in zip(USERS, hashes, strict=True)
        ]
        (self.conf / "users.auth.php").write_text(
            "# users.auth.php written by the Savoir tests\n" + "\n".join(users) + "\n"
        )
        (self.conf / "acl.auth.php").write_text(ACL)
        (self.root / "prepend.php").write_text(
            f"<?php\ndefine('DOKU_CONF', {_php(str(self.conf) + '/')});\n"
            f"define('DOKU_MAIN_CONF', {_php(str(self.conf) + '/')});\n"
        )

    def set_config(self, **settings: object) -> None:
        """Change ``local.php`` settings of the running wiki (read on every request)."""
        path = self.conf / "local.php"
        text = path.read_text()
        for key, value in settings.items():
            line = f"$conf[{_php(key)}] = {_php(value)};"
            pattern = re.compile(rf"^\$conf\[{re.escape(_php(key))}\] = .*;$", re.MULTILINE)
            text = (
                pattern.sub(lambda _m, line=line: line, text) if pattern.search(text) else text + line + "\n"
            )
        path.write_text(text)

    def start(self) -> None:
        self.configure()
        pidfile = self.root / "server.pid"
        command = (
            f"echo $$ > {pidfile}; exec env PHP_CLI_SERVER_WORKERS=4 php"
            f" -d auto_prepend_file={self.root / 'prepend.php'}"
            f" -d session.save_path={self.root / 'sessions'}"
            " -d opcache.revalidate_freq=0"  # set_config() takes effect at once
            f" -S 127.0.0.1:{self.port} -t {DOKUWIKI_CODE}"
        )
        with open(self.root / "server.log", "ab") as log:
            subprocess.run(
                ["setsid", "-f", "sh", "-c", command], cwd=DOKUWIKI_CODE, stdout=log, stderr=log, check=True
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if pidfile.exists() and pidfile.read_text().strip():
                self._pid = int(pidfile.read_text())
            try:
                if requests.get(f"{self.base}/doku.php", timeout=2).status_code < 500:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"DokuWiki did not start on {self.base}; see {self.root / 'server.log'}")

    def stop(self) -> None:
        for session in self._sessions.values():
            session.close()
        if self._pid is not None:
            try:  # the server is its own process group leader (setsid): its workers go too
                os.killpg(self._pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self._pid = None
        shutil.rmtree(self.root, ignore_errors=True)

    # -- editing ------------------------------------------------------------
    def call(self, method: str, *params: object, user: str | None = None) -> object:
        """One XML-RPC call, as *user* (HTTP basic auth) or anonymously."""
        session = self._session(user)
        resp = session.post(self.rpc_url, data=xmlrpc.client.dumps(params, method), timeout=30)
        resp.raise_for_status()
        return xmlrpc.client.loads(resp.content)[0][0]

    def _session(self, user: str | None) -> requests.Session:
        key = user or ""
        if key not in self._sessions:
            session = requests.Session()
            session.headers["Content-Type"] = "text/xml"
            if user:
                session.auth = (user, self.users[user].password)
            self._sessions[key] = session
        return self._sessions[key]

    def _one_revision_per_second(self, page: str) -> None:
        last = self._last_edit.get(page)
        if last is not None and int(time.time()) <= int(last):
            time.sleep(int(last) + 1.02 - time.time())

    def edit(self, page: str, text: str, user: str, *, summary: str = "", minor: bool = False) -> int:
        """Save *text* as *user*; empty text deletes the page. Returns the new revision."""
        self._one_revision_per_second(page)
        assert self.call("wiki.putPage", page, text, {"sum": summary, "minor": minor}, user=user) is True
        self._last_edit[page] = time.time()
        if not text.strip():
            return int(self._last_edit[page])
        # the revision is the page file's mtime, which may be a second before our clock
        return int(self.call("wiki.getPageInfo", page, user=user)["version"])

    def delete(self, page: str, user: str, summary: str = "") -> int:
        return self.edit(page, "", user, summary=summary)

    def text(self, page: str) -> str:
        return str(self.call("wiki.getPage", page, user="wikiadmin"))

    def revert(self, page: str, revision: int, user: str) -> int:
        """Restore *revision* through the web UI's revert action (as DokuWiki's editors do)."""
        self._one_revision_per_second(page)
        web = requests.Session()
        web.auth = (user, self.users[user].password)
        try:
            listing = web.get(f"{self.base}/doku.php", params={"id": page, "do": "revisions"}, timeout=30)
            match = re.search(r'name="sectok" value="([0-9a-f]+)"', listing.text)
            assert match, f"no security token on the revisions page of {page}"
            params = {"id": page, "do": "revert", "rev": revision, "sectok": match.group(1)}
            web.get(f"{self.base}/doku.php", params=params, timeout=30).raise_for_status()
        finally:
            web.close()
        self._last_edit[page] = time.time()
        latest = self.call("wiki.getPageVersions", page, 0, user=user)[0]
        assert (latest["type"], latest["user"]) == ("R", user), (
            f"the revert of {page} did not happen: {latest}"
        )
        return int(latest["version"])

    def external_edit(self, page: str, text: str) -> None:
        """Write the page file on disk, as an admin with shell access would (no user)."""
        self._one_revision_per_second(page)
        path = self.data / "pages" / (page.replace(":", "/") + ".txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self._last_edit[page] = time.time()

    def load_history(self, folder: Path) -> None:
        """Apply ``history.toml`` from *folder*: each page's edits in order, pages interleaved.

        An edit gives ``text`` or ``file`` (the whole page), or ``append``, or ``replace``
        (``[old, new]``); ``minor = true``, ``revert = N`` (the page's N-th revision,
        1-based), ``external = true`` (written on disk) and ``delete = true`` are honoured.
        """
        history = tomllib.loads((folder / "history.toml").read_text("utf-8"))
        rounds: dict[int, list[dict]] = {}
        seen: dict[str, int] = {}
        for edit in history["edit"]:
            depth = seen.get(edit["page"], 0)
            seen[edit["page"]] = depth + 1
            rounds.setdefault(depth, []).append(edit)
        revisions: dict[str, list[int]] = {}
        for depth in sorted(rounds):
            for edit in rounds[depth]:
                page, user = edit["page"], edit.get("user", "")
                if edit.get("delete"):
                    revisions.setdefault(page, []).append(self.delete(page, user, edit.get("summary", "")))
                    continue
                if "revert" in edit:
                    revisions[page].append(self.revert(page, revisions[page][edit["revert"] - 1], user))
                    continue
                text = self._new_text(folder, page, edit)
                if edit.get("external"):
                    self.external_edit(page, text)
                    continue
                rev = self.edit(
                    page, text, user, summary=edit.get("summary", ""), minor=edit.get("minor", False)
                )
                revisions.setdefault(page, []).append(rev)

    def _new_text(self, folder: Path, page: str, edit: dict) -> str:
        if "file" in edit:
            return (folder / "pages" / edit["file"]).read_text("utf-8")
        if "text" in edit:
            return edit["text"]
        current = self.text(page)
        if "append" in edit:
            return current.rstrip("\n") + "\n\n" + edit["append"].strip("\n") + "\n"
        old, new = edit["replace"]
        assert old in current, f"{page}: {old!r} not in the page"
        return current.replace(old, new, 1)


def _php(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"
