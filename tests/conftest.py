from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

import tests.memory_connector as memory  # noqa: F401 - registers the "memory" kind
from config.loader import SourceConfig, build_settings
from crawler.runner import Savoir
from tests.servers import free_port, postgres_bindir

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def serve_in_thread(app):
    """*app* served on a loopback port by a thread of this process; yields its base URL."""
    from werkzeug.serving import make_server

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture(scope="session")
def postgres_url():
    """A private PostgreSQL cluster on loopback, started for this test session.

    initdb's cluster trusts local connections, so the tests connect as ``postgres``
    without a password (production needs one). .ci/run installs Debian's postgresql.
    """
    if os.environ.get("SAVOIR_TEST_DATABASE_URL"):
        yield os.environ["SAVOIR_TEST_DATABASE_URL"]
        return
    bindir = postgres_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql (the .ci/run script does)")
    workdir = Path(tempfile.mkdtemp(prefix="savoir-pg-"))
    datadir = workdir / "data"
    shutil.chown(workdir, "postgres", "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    port = free_port()
    subprocess.run(
        [*as_pg, str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_pg,
            str(bindir / "pg_ctl"),
            "-D",
            str(datadir),
            "-o",
            f"-h 127.0.0.1 -p {port} -k {workdir}",
            "-l",
            str(workdir / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_pg, str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def fresh_postgres(postgres_url):
    """An empty database in the session's cluster for one test."""
    from sqlalchemy import create_engine, text

    name = f"t{os.getpid()}_{time.monotonic_ns()}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'savoir.db'}"
    return request.getfixturevalue("fresh_postgres")


def make_settings(tmp_path: Path, database_url: str = "", **sections):
    data = {"store": {"data_dir": str(tmp_path / "data"), "database_url": database_url}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return build_settings(data, env={}, base_dir=tmp_path)


@pytest.fixture
def memory_content():
    memory.CONTENT.clear()
    memory.BROKEN.clear()
    yield memory.CONTENT
    memory.CONTENT.clear()
    memory.BROKEN.clear()


def memory_source(
    source_id: str = "wiki", agency: str = "records", acl=("public",), **settings
) -> SourceConfig:
    return SourceConfig(id=source_id, kind="memory", agency=agency, acl=list(acl), settings=settings)


@pytest.fixture
def savoir_factory(tmp_path, memory_content):
    made = []

    def make(sources, database_url: str = "", **sections):
        savoir = Savoir(make_settings(tmp_path, database_url, **sections), sources)
        made.append(savoir)
        return savoir

    yield make
    for s in made:
        s.close()
