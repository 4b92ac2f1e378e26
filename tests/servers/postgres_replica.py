"""A PostgreSQL primary and its streaming replica on loopback, for tests.

Both clusters live in one temporary directory owned by the ``postgres`` user (initdb
refuses root). The primary is initialised with ``wal_level = replica`` and a
``replication`` line in its pg_hba.conf; the replica is a ``pg_basebackup -R -X stream``
of it (``standby.signal`` plus ``primary_conninfo``), started with ``hot_standby = on``
so that it answers read-only queries while it replays the primary's WAL.

Connections over TCP as the ``savoir`` role need its password (SCRAM), so the tests
can check that a password in a URL never reaches a log; the ``postgres`` superuser is
trusted on loopback for the replication connection and the tests' own checks (as
Debian's initdb cluster is: production needs passwords everywhere).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.servers import free_port, postgres_bindir

ROLE, PASSWORD, DATABASE = "savoir", "replica-test-pass-4417", "savoir"

HBA = """\
local all all trust
host all {role} 127.0.0.1/32 scram-sha-256
host all postgres 127.0.0.1/32 trust
host replication postgres 127.0.0.1/32 trust
"""

SETTINGS = """
wal_level = replica
max_wal_senders = 5
hot_standby = on
fsync = off
synchronous_commit = off
"""


class PrimaryWithReplica:
    """``start()`` both, ``stop_replica()`` / ``start_replica()``, ``stop()`` everything."""

    def __init__(self) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
        self.bindir = bindir
        self.workdir = Path(tempfile.mkdtemp(prefix="savoir-pgrep-"))
        shutil.chown(self.workdir, "postgres", "postgres")
        self.primary_dir = self.workdir / "primary"
        self.replica_dir = self.workdir / "replica"
        self.primary_port = free_port()
        self.replica_port = free_port()
        self._as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    # -- URLs ------------------------------------------------------------------
    def url(self, port: int, *, admin: bool = False) -> str:
        if admin:
            return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DATABASE}"
        return f"postgresql+psycopg://{ROLE}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica_url(self) -> str:
        return self.url(self.replica_port)

    # -- life cycle ------------------------------------------------------------
    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as_pg, *args], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout.strip()}")

    def _pg_ctl(self, datadir: Path, port: int, action: str) -> None:
        options = ["-o", f"-h 127.0.0.1 -p {port} -k {self.workdir}", "-l", str(datadir) + ".log"]
        extra = ["-m", "fast"] if action == "stop" else options
        self._run(str(self.bindir / "pg_ctl"), "-D", str(datadir), *extra, "-w", "-t", "60", action)

    def psql(self, port: int, sql: str) -> str:
        """One statement as the superuser over the socket; its rows, unaligned."""
        done = subprocess.run(
            [*self._as_pg, str(self.bindir / "psql"), "-h", str(self.workdir), "-p", str(port)]
            + ["-d", DATABASE, "-At", "-c", sql],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def start(self) -> PrimaryWithReplica:
        self._run(str(self.bindir / "initdb"), "-D", str(self.primary_dir), "-A", "trust", "-U", "postgres")
        with open(self.primary_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(SETTINGS)
        (self.primary_dir / "pg_hba.conf").write_text(HBA.format(role=ROLE), "utf-8")
        self._pg_ctl(self.primary_dir, self.primary_port, "start")
        done = subprocess.run(
            [*self._as_pg, str(self.bindir / "psql"), "-h", str(self.workdir), "-p", str(self.primary_port)]
            + ["-d", "postgres", "-v", "ON_ERROR_STOP=1"]
            + ["-c", f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'"]
            + ["-c", f"CREATE DATABASE {DATABASE} OWNER {ROLE}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode:
            raise RuntimeError(f"setting up the primary failed: {done.stderr.strip()}")
        # -R: standby.signal and primary_conninfo; -X stream: the WAL of the copy itself
        self._run(
            str(self.bindir / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres"),
            *("-D", str(self.replica_dir), "-R", "-X", "stream", "-c", "fast"),
        )
        self.start_replica()
        return self

    def start_replica(self) -> None:
        self._pg_ctl(self.replica_dir, self.replica_port, "start")
        deadline = time.monotonic() + 60
        while self.psql(self.replica_port, "SELECT pg_is_in_recovery()") != "t":
            if time.monotonic() > deadline:
                raise RuntimeError("the replica does not run as a hot standby")
            time.sleep(0.2)

    def stop_replica(self) -> None:
        self._pg_ctl(self.replica_dir, self.replica_port, "stop")

    def streaming(self) -> bool:
        """Whether the primary is streaming its WAL to the replica right now."""
        return (
            self.psql(self.primary_port, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
            == "1"
        )

    def stop(self) -> None:
        for datadir, port in ((self.replica_dir, self.replica_port), (self.primary_dir, self.primary_port)):
            if (datadir / "postmaster.pid").exists():
                try:
                    self._pg_ctl(datadir, port, "stop")
                except (RuntimeError, subprocess.TimeoutExpired):
                    pass
        shutil.rmtree(self.workdir, ignore_errors=True)
