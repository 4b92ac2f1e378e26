"""One piece of work done in a forked child while this process does another.

Steps that are seconds of CPU on one core leave the machine's second core idle; the
translation learner's two directions are learned at once this way, and the learner
itself runs beside the people step after a crawl. The child is a copy of this
process, so it must not use what it shares with the parent: *prepare* runs first in
the child to give it its own connections (:meth:`indexer.store.Store.after_fork`).
It dies with the parent, drops the index locks it inherited, and leaves with
``os._exit``, without the parent's exit handlers, open files' buffers or threads
(none of them crosses a fork).

The answer comes back pickled through a pipe. A child that cannot be forked, raises,
dies or overruns its deadline gives no answer (logged, the child killed), and the
caller does the work itself: the same work, in one process.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import Any

from indexer.index_lock import detach_child

log = logging.getLogger(__name__)


class Forked:
    """``work()`` in a forked child, started at once; :meth:`result` collects it."""

    def __init__(self, work: Callable[[], Any], *, what: str, prepare: Callable[[], None] | None = None):
        self.what = what
        self.pid: int | None = None
        if not hasattr(os, "fork"):
            return
        parent = os.getpid()
        reading, writing = os.pipe()
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(reading)
            os.close(writing)
            log.info("%s stays in this process: %s", what, exc)
            return
        if pid == 0:  # the child
            code = 1
            try:
                os.close(reading)
                detach_child(parent)
                if prepare is not None:
                    prepare()
                found = work()
                with os.fdopen(writing, "wb") as out:
                    pickle.dump(found, out, pickle.HIGHEST_PROTOCOL)
                code = 0
            except BaseException:  # noqa: BLE001 - told to the log; the parent does it again
                log.exception("%s failed in its process", what)
            finally:
                os._exit(code)
        os.close(writing)
        self.pid, self._reading = pid, reading

    def result(self, deadline: float | None = None) -> tuple[bool, Any]:
        """(True, what the child's work returned), or (False, None) when there is no
        answer: no child, or one that failed, died or was still working *deadline*
        seconds from now (it is killed). Call it once; it reaps the child."""
        if self.pid is None:
            return False, None
        chunks, complete = [], False
        try:
            end = None if deadline is None else time.monotonic() + deadline
            while True:
                if end is not None and not select.select([self._reading], [], [], max(end - time.monotonic(), 0))[0]:
                    log.warning("%s took over %.0f s in its process; stopped, done here", self.what, deadline)
                    os.kill(self.pid, signal.SIGKILL)
                    break
                chunk = os.read(self._reading, 1 << 20)
                if not chunk:
                    complete = True
                    break
                chunks.append(chunk)
        finally:
            os.close(self._reading)
            _, status = os.waitpid(self.pid, 0)
            self.pid = None
        if complete and status == 0:
            try:
                return True, pickle.loads(b"".join(chunks))
            except (EOFError, pickle.UnpicklingError):
                pass
        if complete:
            log.warning("%s failed in its process (status %s); done here", self.what, status)
        return False, None
