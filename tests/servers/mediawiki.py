"""A private MediaWiki (Debian's ``mediawiki`` package, 1.39) on loopback, for tests and benches.

Nothing outside a temporary directory is written: MediaWiki takes its settings file
from the ``MW_CONFIG_FILE`` environment variable (install.php, the maintenance
scripts and the web entry points all honour it), so ``install.php`` writes
LocalSettings.php into the temporary directory and the wiki lives in SQLite there.
``/etc/mediawiki/LocalSettings.php`` (which Debian links into the web root) is never
touched; :meth:`MediaWiki.stop` checks that it is exactly as it was and puts it back
if anything changed it. PHP's built-in server serves ``/var/lib/mediawiki``.

The wiki is loaded the way wikis grow: an XML export with several revisions per page
by several people (minor edits, an anonymous edit, a bot's edits) imported by
``importDump.php``, then a page moved and one deleted by the admin, and the French
pages' language set through the API. Variants of the same wiki (private, API module
disabled) are more servers over the same database, each with a settings file that
includes the main one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from tests.servers import free_port

CODE = Path("/usr/share/mediawiki")
WEB_ROOT = Path("/var/lib/mediawiki")
SYSTEM_SETTINGS = Path("/etc/mediawiki/LocalSettings.php")
PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "mediawiki" / "pages.xml"

ADMIN, ADMIN_PASSWORD = "Admin", "savoir-admin-pass-1"
PEOPLE = ("Geneviève Tremblay", "Wei Chen", "Marc-André Roy", "Priya Singh")
BOT = "MaintenanceBot"
#: the crawler's account and its bot password (bot passwords are 32+ characters of [0-9a-w])
CRAWLER, CRAWLER_LOGIN, CRAWLER_PASSWORD = "Savoir", "Savoir@crawler", "savoircrawlerpassword0123456789a"
FRENCH_PAGES = ("Demandes d'accès à l'information", "Télétravail : foire aux questions")

SETTINGS = """
# -- added by tests/servers/mediawiki.py --
$wgPageLanguageUseDB = true;
$wgGroupPermissions['sysop']['pagelang'] = true;
$wgEnableEmail = false;
$wgJobRunRate = 0;
$wgPasswordAttemptThrottle = false;
# A lagging replica on demand: the wiki reports the lag written in this file.
$wgHooks['ApiMaxLagInfo'][] = static function ( &$lagInfo ) {
	$lag = @file_get_contents( %(lag_file)r );
	if ( $lag !== false ) {
		$lagInfo['lag'] = (int)$lag;
		$lagInfo['host'] = 'replica';
	}
};
"""
VARIANTS = {
    "private": "$wgGroupPermissions['*']['read'] = false;",
    "noquery": "$wgAPIModules['query'] = 'ApiDisabled';",
}


def installed() -> bool:
    return (CODE / "maintenance" / "install.php").is_file() and shutil.which("php") is not None


def _snapshot(path: Path) -> tuple[bool, bool, str | bytes | None]:
    if path.is_symlink():
        return True, True, os.readlink(path)
    return path.exists(), False, path.read_bytes() if path.exists() else None


class MediaWiki:
    """One private wiki: :meth:`install`, :meth:`load`, :meth:`serve`, edit it, :meth:`stop`."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="savoir-mediawiki-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.base}/api.php"
        self.settings = self.root / "LocalSettings.php"
        self.lag_file = self.root / "lag"
        self.variants: dict[str, str] = {}
        #: the page id of "Fraud red flags" before the test pages' move
        self.moved_id: int | None = None
        self._servers: list[subprocess.Popen] = []
        self._system_before = _snapshot(SYSTEM_SETTINGS)

    # -- set-up ----------------------------------------------------------------------------
    @classmethod
    def with_test_pages(cls) -> MediaWiki:
        """The wiki the connector tests use: users, pages, a move, a deletion, FR pages."""
        wiki = cls()
        try:
            wiki.install()
            wiki.load(PAGES)
            wiki.serve()
            wiki.moved_id = wiki.page_id("Fraud red flags")
            wiki.move("Fraud red flags", "Procurement fraud red flags", "Clearer title")
            wiki.delete("Obsolete travel directive", "Replaced by the NJC travel directive")
            for title in FRENCH_PAGES:
                wiki.set_language(title, "fr")
        except BaseException:
            wiki.stop()
            raise
        return wiki

    def install(self) -> None:
        self.php(
            "install.php",
            "--dbtype=sqlite",
            f"--dbpath={self.root / 'db'}",
            "--dbname=wiki",
            f"--server={self.base}",
            "--scriptpath=",
            "--lang=en",
            f"--pass={ADMIN_PASSWORD}",
            f"--confpath={self.root}",
            "Savoir Test Wiki",
            ADMIN,
        )
        with self.settings.open("a", encoding="utf-8") as out:
            out.write(SETTINGS % {"lag_file": str(self.lag_file)})
        for name in PEOPLE:
            self.php("createAndPromote.php", name, f"{name.split()[0].lower()}-pass-12345")
        self.php("createAndPromote.php", "--bot", BOT, "bot-pass-12345")
        self.php("createAndPromote.php", CRAWLER, "crawler-main-pass-12345")
        self.php(
            "createBotPassword.php", "--appid=crawler", "--grants=basic,highvolume", CRAWLER, CRAWLER_PASSWORD
        )

    def load(self, dump: Path, *, prefix: str = "") -> None:
        """Import an XML export; names without an account need a *prefix* (``imported``)."""
        self.php("importDump.php", f"--username-prefix={prefix}", str(dump))
        self.php("initSiteStats.php", "--update")

    def serve(self, variant: str = "") -> str:
        """Start PHP's server for the wiki (or a variant of it); return its api.php URL."""
        if variant in self.variants:
            return self.variants[variant]
        port, env = self.port, {}
        if variant:
            port = free_port()
            config = self.root / f"variant-{variant}.php"
            config.write_text(
                f"<?php\nrequire __DIR__ . '/LocalSettings.php';\n"
                f"$wgServer = 'http://127.0.0.1:{port}';\n{VARIANTS[variant]}\n",
                encoding="utf-8",
            )
            env["MW_CONFIG_FILE"] = str(config)
        log = (self.root / f"server-{variant or 'main'}.log").open("wb")
        # PHP itself is our child (no shell in between): its pid is the server's, and we reap it
        self._servers.append(
            subprocess.Popen(
                ["php", "-S", f"127.0.0.1:{port}", "-t", "."],
                cwd=WEB_ROOT,
                env=self._env(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()
        api = f"http://127.0.0.1:{port}/api.php"
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(api, params={"action": "query", "format": "json"}, timeout=5)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"MediaWiki did not start on port {port}") from None
                time.sleep(0.05)
        self.variants[variant] = api
        return api

    # -- changes, as people make them --------------------------------------------------------
    def php(self, script: str, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            ["php", str(CODE / "maintenance" / script), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self._env(),
            cwd=CODE,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{script} failed ({done.returncode}): {done.stdout}\n{done.stderr}")
        return done.stdout

    def edit(self, title: str, text: str, user: str, *, minor: bool = False, summary: str = "edit") -> None:
        self.php(
            "edit.php",
            f"--user={user}",
            f"--summary={summary}",
            *(["--minor"] if minor else []),
            title,
            stdin=text,
        )

    def move(self, old: str, new: str, reason: str = "move") -> None:
        listing = self.root / "moves.txt"
        listing.write_text(f"{old}|{new}\n", encoding="utf-8")
        self.php("moveBatch.php", "-u", ADMIN, "-r", reason, str(listing))

    def delete(self, title: str, reason: str = "delete") -> None:
        listing = self.root / "deletions.txt"
        listing.write_text(f"{title}\n", encoding="utf-8")
        self.php("deleteBatch.php", "-u", ADMIN, "-r", reason, str(listing))

    def set_language(self, title: str, lang: str) -> None:
        """Set a page's language through the API as the admin (there is no maintenance script)."""
        admin = requests.Session()
        common = {"format": "json", "formatversion": "2"}
        token = admin.get(self.api, params={**common, "action": "query", "meta": "tokens", "type": "login"})
        login = {"action": "clientlogin", "username": ADMIN, "password": ADMIN_PASSWORD}
        login.update(logintoken=token.json()["query"]["tokens"]["logintoken"], loginreturnurl=self.base)
        status = admin.post(self.api, data={**common, **login}).json()["clientlogin"]["status"]
        assert status == "PASS", status
        csrf = admin.get(self.api, params={**common, "action": "query", "meta": "tokens"}).json()
        change = {"action": "setpagelanguage", "title": title, "lang": lang, "reason": "French page"}
        answer = admin.post(
            self.api, data={**common, **change, "token": csrf["query"]["tokens"]["csrftoken"]}
        )
        assert "error" not in answer.json(), answer.text

    def page_id(self, title: str) -> int | None:
        params = {"action": "query", "titles": title, "format": "json", "formatversion": "2"}
        page = requests.get(self.api, params=params, timeout=10).json()["query"]["pages"][0]
        return None if page.get("missing") else page["pageid"]

    def lag(self, seconds: int | None) -> None:
        """Make the wiki report a replica lag of *seconds* (None: no lag)."""
        if seconds is None:
            self.lag_file.unlink(missing_ok=True)
        else:
            self.lag_file.write_text(str(seconds))

    # -- tear-down -------------------------------------------------------------------------------
    def stop(self) -> None:
        for process in self._servers:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._servers.clear()
        shutil.rmtree(self.root, ignore_errors=True)
        self._restore_system_settings()

    def _restore_system_settings(self) -> None:
        existed, link, content = self._system_before
        if _snapshot(SYSTEM_SETTINGS) == self._system_before:
            return
        if SYSTEM_SETTINGS.is_symlink() or SYSTEM_SETTINGS.exists():
            SYSTEM_SETTINGS.unlink()
        if link:
            SYSTEM_SETTINGS.symlink_to(content)  # type: ignore[arg-type]
        elif existed:
            SYSTEM_SETTINGS.write_bytes(content)  # type: ignore[arg-type]
        raise AssertionError(f"{SYSTEM_SETTINGS} was changed during the tests; it has been put back")

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**os.environ, "MW_CONFIG_FILE": str(self.settings), **(extra or {})}
