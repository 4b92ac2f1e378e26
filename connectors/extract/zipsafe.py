"""Reading the parts of an Office or OpenDocument file (a zip) without trusting it.

A zip declares each member's uncompressed size; a zip bomb declares little and expands
a lot, or declares a lot. Both are caught: the declared size and ratio are checked
before a member is opened, and the bytes actually produced are counted while reading
(the stdlib also stops at the declared size and checks the CRC). XML parts are parsed
with defusedxml: no DTDs, no entity expansion, no external references.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring, iterparse

from connectors.extract.common import MB, Budget, FileError, one_line

CHUNK = 256 * 1024
MAX_MEMBERS = 20_000
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class SafeZip:
    def __init__(self, data: bytes, budget: Budget, what: str) -> None:
        self.budget, self.what = budget, what
        if data.startswith(OLE_MAGIC):
            raise FileError(
                f"encrypted or old-format {what} (an OLE compound file, not a zip): "
                "save it without a password in the current format"
            )
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(data))
            infos = self.archive.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
            raise FileError(f"damaged or not a {what} (not a valid zip: {one_line(exc)})") from None
        if len(infos) > MAX_MEMBERS:
            raise FileError(f"damaged or hostile {what}: {len(infos)} zip members (at most {MAX_MEMBERS})")
        self.infos = {info.filename: info for info in infos}
        declared = sum(info.file_size for info in infos)
        if declared > budget.limits.max_unpacked:
            raise FileError(
                f"zip bomb? its parts declare {declared} bytes unpacked, over the "
                f"{budget.limits.max_unpacked}-byte limit (max_unpacked)"
            )

    def names(self) -> list[str]:
        return list(self.infos)

    def read(self, name: str) -> bytes | None:
        """The member's bytes, or None when there is no such member."""
        info = self.infos.get(name)
        if info is None:
            return None
        self.read_checks(info)
        return b"".join(self._chunks(info))

    def read_checks(self, info: zipfile.ZipInfo) -> None:
        """What the zip's directory says about a member, checked before it is opened."""
        name, limits = info.filename, self.budget.limits
        if info.flag_bits & 0x1:
            raise FileError(f"encrypted {self.what} ({name} needs a password)")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MB and ratio > limits.max_zip_ratio:
            raise FileError(
                f"zip bomb: {name} expands {ratio:.0f} times ({info.compress_size} to {info.file_size} "
                f"bytes), over the {limits.max_zip_ratio}x limit (max_zip_ratio)"
            )

    def _chunks(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """The member's bytes, chunk by chunk, each counted against the limits."""
        name, limits, size = info.filename, self.budget.limits, 0
        try:
            with self.archive.open(info) as member:
                while chunk := member.read(CHUNK):
                    size += len(chunk)
                    self.budget.unpacked += len(chunk)
                    if size > info.file_size:  # the stdlib stops there too; never trust one check
                        raise FileError(f"zip bomb: {name} unpacks past its declared {info.file_size} bytes")
                    if size > MB and size > limits.max_zip_ratio * max(info.compress_size, 1):
                        raise FileError(
                            f"zip bomb: {name} expands over {limits.max_zip_ratio} times its "
                            "compressed size (max_zip_ratio)"
                        )
                    if self.budget.unpacked > limits.max_unpacked:
                        raise FileError(
                            f"zip bomb? its parts unpack to more than {limits.max_unpacked} bytes (max_unpacked)"
                        )
                    self.budget.check()
                    yield chunk
        except FileError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise FileError(f"damaged {self.what}: cannot unpack {name} ({one_line(exc)})") from None
        except Exception as exc:  # zlib.error and friends
            raise FileError(
                f"damaged {self.what}: cannot unpack {name} ({type(exc).__name__}: {one_line(exc)})"
            ) from None

    def iter_xml(self, name: str, tag: str, parent: str) -> Iterator[Element]:
        """Each complete *tag* element of member *name*, parsed as it is unpacked (a huge
        sheet is never held whole); the elements are dropped from *parent* once yielded,
        so memory stays flat. Nothing when there is no such member."""
        info = self.infos.get(name)
        if info is None:
            return
        self.read_checks(info)
        stream = _Stream(self._chunks(info))
        holder: Element | None = None
        try:
            for event, element in iterparse(stream, events=("start", "end")):
                if event == "start":
                    if element.tag == parent and holder is None:
                        holder = element
                elif element.tag == tag:
                    yield element
                    if holder is not None:
                        holder.clear()
        except DefusedXmlException as exc:
            raise FileError(
                f"hostile {self.what}: {name} uses XML entities or a DTD ({type(exc).__name__})"
            ) from None
        except ParseError as exc:
            raise FileError(f"damaged {self.what}: invalid XML in {name} ({one_line(exc)})") from None

    def xml(self, name: str, *, required: bool = False) -> Element | None:
        data = self.read(name)
        if data is None:
            if required:
                raise FileError(f"damaged or not a {self.what} (no {name})")
            return None
        try:
            return fromstring(data)
        except DefusedXmlException as exc:
            raise FileError(
                f"hostile {self.what}: {name} uses XML entities or a DTD ({type(exc).__name__})"
            ) from None
        except ParseError as exc:
            raise FileError(f"damaged {self.what}: invalid XML in {name} ({one_line(exc)})") from None

    def close(self) -> None:
        self.archive.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Stream:
    """A file-like reader over checked chunks, for iterparse."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def read(self, size: int = -1) -> bytes:
        return next(self._chunks, b"")
