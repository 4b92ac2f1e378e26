"""Requests per client address per minute, shared by every process of one server.

``savoir serve`` runs several worker processes; a limit kept in each process's memory
lets an address make N times the limit. The counts live instead in one small file in
the data directory, a fixed table of slots that every process reads and writes under
an exclusive ``flock`` (a few microseconds a request, no database write).

Each slot holds a key's hash, the minute it counts and the counts of that minute and
the one before; the estimate over the last 60 s is ``previous * (1 - elapsed) +
current`` (a sliding window without keeping every request's time). A key lands in slot
``hash % SLOTS``; a different key there replaces it, so the table never grows and an
address that floods with many keys only ever evicts its own.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
import time
from ipaddress import ip_address
from pathlib import Path

SLOTS = 8192
_SLOT = struct.Struct("<QIII")  # key hash, minute, count this minute, count the minute before
_SIZE = SLOTS * _SLOT.size


class SharedWindow:
    """At most ``per_minute`` events per key over a sliding minute, across processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size != _SIZE:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    if os.fstat(fd).st_size != _SIZE:  # a new table, or one of another layout
                        os.ftruncate(fd, 0)
                        os.ftruncate(fd, _SIZE)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        self._pid = os.getpid()

    def _descriptor(self) -> int:
        # a forked worker must not share the parent's open file description's lock
        if os.getpid() != self._pid:
            self._fd = os.open(self.path, os.O_RDWR)
            self._pid = os.getpid()
        return self._fd

    def allow(self, key: str, per_minute: int, *, now: float | None = None) -> bool:
        """Count one event for *key*; False (and not counted) when it is over the limit."""
        if per_minute <= 0:
            return True
        stamp = time.time() if now is None else now
        minute, into = divmod(stamp, 60.0)
        minute = int(minute)
        digest = int.from_bytes(
            hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=8).digest(), "little"
        )
        offset = (digest % SLOTS) * _SLOT.size
        fd = self._descriptor()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            held, at, current, previous = _SLOT.unpack(os.pread(fd, _SLOT.size, offset))
            if held != digest or at < minute - 1:
                current, previous = 0, 0
            elif at == minute - 1:
                current, previous = 0, current
            elif at > minute:  # a clock set back: start over rather than lock someone out
                current, previous = 0, 0
            estimate = previous * (1.0 - into / 60.0) + current
            if estimate >= per_minute:
                os.pwrite(fd, _SLOT.pack(digest, minute, current, previous), offset)
                return False
            os.pwrite(fd, _SLOT.pack(digest, minute, min(current + 1, 2**32 - 1), previous), offset)
            return True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        try:
            os.close(self._fd)
        except OSError:
            pass


def client_address(
    remote: str | None, forwarded_for: str | None, trusted: list[str] | tuple[str, ...]
) -> str:
    """The address a request came from: behind a trusted proxy, the nearest hop it names.

    ``X-Forwarded-For`` is read only when the direct peer is one of *trusted*, and then
    from the right (each proxy appends): the first address that is not a trusted proxy
    is the client. Anything unparsable counts as the peer itself.
    """
    peer = remote or ""
    if not forwarded_for or peer not in set(trusted):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        try:
            ip_address(hop)
        except ValueError:
            return peer
        if hop not in set(trusted):
            return hop
    return peer
