"""Building Savoir's package is quiet and the package holds what the UI needs.

``make demo`` installs the project first; setuptools' deprecation and "absent from
packages" warnings used to fill ~290 lines of a first run. pip builds the wheel the
way ``make venv`` does (an isolated build environment from the package index).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


PACKAGED = ("config", "connectors", "crawler", "indexer", "webui", "tests", "bench", "demo")


def test_the_wheel_builds_without_warnings_and_holds_templates_and_settings(tmp_path):
    # a copy of the tree: pip builds in place and would leave build/ in the repository
    src = tmp_path / "src"
    for name in PACKAGED:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path / "wheel"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "Warning" not in output and "deprecated" not in output, output
    (wheel,) = out.glob("savoir-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (
        "webui/templates/base.html",
        "webui/static/savoir.css",
        "config/default.toml",
        "config/glossary.tsv",
    ):
        assert path in names, path
    assert not any(name.startswith(("tests/", "bench/", "demo/")) for name in names)

    # and the editable install `make venv` does is quiet too
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    editable = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-deps",
            "-e",
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert editable.returncode == 0, editable.stderr
    assert "Warning" not in editable.stdout + editable.stderr, editable.stderr
