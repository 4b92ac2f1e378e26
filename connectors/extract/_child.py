"""The extraction child of :mod:`connectors.extract.isolate`:
``python -m connectors.extract._child MODULE:FUNCTION``.

It reads length-prefixed pickles ``(data, suffix, limits)`` on stdin and answers
``("ok", Parsed)`` or ``("error", reason)`` on its original stdout; anything a reader
prints goes to stderr instead, so it cannot break the framing. Only the parent, which
started this process, writes to its stdin: the pickles are its own.
"""

from __future__ import annotations

import importlib
import os
import pickle
import struct
import sys
from typing import Any, BinaryIO

HEADER = struct.Struct(">Q")


def read_message(stream: BinaryIO) -> Any:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError
    (size,) = HEADER.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError
    return pickle.loads(payload)


def write_message(stream: BinaryIO, message: Any) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(payload)) + payload)
    stream.flush()


def serve(target: str) -> None:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a reader's print() goes to stderr, never into the answers
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    from connectors.extract.common import FileError, one_line

    module, _, name = target.partition(":")
    func = getattr(importlib.import_module(module), name)
    write_message(out, "ready")  # a file's time starts once its reader is loaded
    while True:
        try:
            job = read_message(inp)
        except EOFError:
            return
        if job is None:
            return
        data, suffix, limits = job
        try:
            answer: tuple[str, Any] = ("ok", func(data, suffix, limits))
        except FileError as exc:
            answer = ("error", str(exc))
        except BaseException as exc:  # noqa: BLE001 - the child reports, the parent decides
            answer = ("error", f"unreadable {suffix} file ({type(exc).__name__}: {one_line(exc)[:200]})")
        write_message(out, answer)


if __name__ == "__main__":
    serve(sys.argv[1])
