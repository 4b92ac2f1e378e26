"""Index write locks that die with their holder, and writer processes that die with theirs.

Whoosh locks an index with ``flock`` on ``MAIN_WRITELOCK``. Its multi-process writer
forks sub-writers that inherit that descriptor; when the parent is killed (``kill
-9``, OOM) they stay blocked on their job queue forever, still holding the lock, and
every later writer waits and fails. Two fixes, both enforced by the kernel:

* every sub-writer drops the lock descriptors it inherited and asks the kernel to
  kill it when its parent dies (``prctl(PR_SET_PDEATHSIG)`` on Linux; elsewhere a
  thread watches the parent pid);
* Savoir's own write lock is an ``flock`` too (released by the kernel when the holder
  dies, whatever the state of the lock file), taken before Whoosh's, and it records
  the holder's pid so that "busy" errors can say who holds it.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import os
import signal
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
#: names of the lock files a sub-writer must not keep open
LOCK_SUFFIXES = ("WRITELOCK", ".lock")


class IndexBusy(Exception):
    """Another live process is writing the index; the message says which and what to do."""


class IndexLock:
    """An exclusive ``flock`` on *path*: ``with IndexLock(p).hold(timeout, what): ...``.

    Re-entrant for its holder (one object; callers serialise threads themselves).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._depth = 0

    def acquire(self, timeout: float = 0.0) -> bool:
        """Take the lock, waiting up to *timeout* seconds; False when still held elsewhere."""
        if self._fd is not None:
            self._depth += 1
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if time.monotonic() >= deadline:
                os.close(fd)
                return False
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.5)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        self._depth = 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth <= 0 and self._fd is not None:
            self._depth = 0
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def holder(self) -> str:
        """The pid written by the current (or last) holder, for messages."""
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def hold(self, timeout: float, what: str) -> _Held:
        if not self.acquire(timeout):
            raise IndexBusy(
                f"the index at {self.path.with_suffix('')} is being written by process {self.holder()} "
                f"({what} waited {timeout:.0f}s); run this again when that process has finished"
            )
        return _Held(self)


class _Held:
    def __init__(self, lock: IndexLock) -> None:
        self.lock = lock

    def __enter__(self) -> IndexLock:
        return self.lock

    def __exit__(self, *exc) -> None:
        self.lock.release()


# -- Whoosh's sub-writer processes -------------------------------------------------


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl failed")
    except (OSError, AttributeError):
        # no prctl (not Linux): watch the parent instead
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="parent-watch").start()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _drop_inherited_locks() -> None:
    """Point every inherited lock descriptor at /dev/null.

    Not closed: the parent's lock objects, copied into this process, still name those
    descriptor numbers, and one released later must not close a file this process
    opened since under the same number.
    """
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for name in names:
            try:
                target = os.readlink(f"/proc/self/fd/{name}")
            except OSError:
                continue
            if target.endswith(LOCK_SUFFIXES) and int(name) != devnull:
                os.dup2(devnull, int(name))
    finally:
        os.close(devnull)


def detach_child(parent: int) -> None:
    """In a child forked from *parent* (a sub-writer, :mod:`indexer.forked`'s children):
    die with it, and keep none of its index locks (a child must not hold the index
    after its parent died)."""
    _die_with_parent(parent)
    _drop_inherited_locks()


def guard_subwriters() -> None:
    """Patch Whoosh's sub-writer so that it never outlives, nor keeps the lock of, its parent."""
    from whoosh import multiproc

    task = multiproc.SubWriterTask
    if getattr(task, "_savoir_guarded", False):
        return
    original_start, original_run = task.start, task.run

    def start(self) -> None:
        self._savoir_parent = os.getpid()
        original_start(self)

    def run(self) -> None:
        detach_child(getattr(self, "_savoir_parent", os.getppid()))
        original_run(self)

    task.start, task.run = start, run
    task._savoir_guarded = True
