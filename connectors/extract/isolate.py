"""A hard time limit per file: :func:`~connectors.extract.extract` in a child process
that is killed when one file takes too long.

``max_seconds`` is checked by the readers between pages, parts and chunks, which stops
a slow file but not one that hangs inside a parser (a loop in a PDF's object graph, a
regular expression on a hostile string, a C extension that never returns). So the
document-store connectors extract through :class:`IsolatedExtractor`: one long-lived
child per run (``python -m connectors.extract._child``), fed one file at a time over
its stdin; when a file has not come back ``max_seconds`` plus a grace period after it
was sent, the child is killed, the file becomes a :class:`FileError` ("its reader was
stopped") and the next file gets a fresh child. A child that dies (a crash in a C
parser, the kernel's OOM killer) costs that one file too.

A plain subprocess rather than :mod:`multiprocessing`: it inherits none of the
crawler's threads, locks or connections, and does not re-import the program's main
module. It costs one interpreter start (about half a second) per run and per kill.
"""

from __future__ import annotations

import logging
import os
import select
import subprocess
import sys

from connectors.extract._child import read_message, write_message
from connectors.extract.common import FileError, Limits, Parsed

log = logging.getLogger(__name__)

#: the function children call by default: ``module:name``
DEFAULT_TARGET = "connectors.extract:extract"
#: seconds a file may take past max_seconds before its reader is killed (the readers'
#: own checks come first, with a precise reason)
GRACE = 5.0
#: seconds a new child may take to load the readers
STARTUP = 120.0


class IsolatedExtractor:
    """``with IsolatedExtractor() as reader: reader.extract(data, suffix, limits)``."""

    def __init__(self, target: str = DEFAULT_TARGET, grace: float | None = None) -> None:
        self.target = target
        self.grace = GRACE if grace is None else grace
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> IsolatedExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        process = subprocess.Popen(
            [sys.executable, "-m", "connectors.extract._child", self.target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        self._process = process
        if not self._answer_within(STARTUP) or read_message(process.stdout) != "ready":
            self._kill()
            raise FileError(f"its reader could not start within {STARTUP:g}s")
        return process

    def _answer_within(self, seconds: float) -> bool:
        assert self._process is not None and self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], seconds)
        return bool(ready)

    def extract(self, data: bytes, suffix: str, limits: Limits | None = None) -> Parsed:
        """The same as :func:`connectors.extract.extract`, with the hard limit."""
        limits = limits or Limits()
        process = self._process if self._process is not None and self._process.poll() is None else None
        try:
            process = process or self._start()
            write_message(process.stdin, (data, suffix, limits))
            if not self._answer_within(limits.max_seconds + self.grace):
                self._kill()
                raise FileError(
                    f"took longer than {limits.max_seconds:g}s to read (max_seconds): its reader was stopped"
                )
            kind, value = read_message(process.stdout)
        except (EOFError, OSError):
            code = None
            if self._process is not None:
                try:
                    code = self._process.wait(5)  # it closed its pipe: it is dying or dead
                except subprocess.TimeoutExpired:
                    pass
            self._kill()
            raise FileError(f"its reader died while reading it (exit code {code})") from None
        if kind == "ok":
            return value
        raise FileError(value)

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait(10)
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()  # type: ignore[union-attr]
            except OSError:
                pass

    def close(self) -> None:
        """Stop the child: asked first, killed if it does not go."""
        process = self._process
        if process is None:
            return
        try:
            write_message(process.stdin, None)
            process.wait(2)
        except (OSError, subprocess.TimeoutExpired):
            log.debug("extraction child did not stop when asked; killing it")
        self._kill()


__all__ = ["DEFAULT_TARGET", "IsolatedExtractor"]
