"""Every secret Savoir knows, and a scrubber that removes them from any text it emits.

Secrets reach messages in ways no single call site can foresee: a mistyped secret
quoted by a settings error ("expected text, got 73310042"), a source whose error page
echoes the credentials (``bad call ('bot', 'S3cretValid-4')``), a library that puts a
URL with a password in an exception. So every configured secret value is registered
here when settings are read, and every message Savoir prints, logs or stores goes
through :func:`scrub` (the store's run records, the command line's output, a logging
filter on every handler).
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import quote, quote_plus

MASK = "********"
#: shorter values are not scrubbed: they would mangle ordinary words and numbers
MIN_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: list[str] = []


def register(value: object) -> None:
    """Remember *value* (any type: a mistyped secret is a secret too) as a secret."""
    if value is None or isinstance(value, bool):
        return
    text = str(value)
    if len(text) < MIN_LENGTH:
        return
    forms = {text, quote(text, safe=""), quote_plus(text), repr(text)[1:-1]}
    with _lock:
        new = forms - _secrets
        if new:
            _secrets.update(new)
            # longest first, so that a secret containing another is masked whole
            _ordered[:] = sorted(_secrets, key=len, reverse=True)


def scrub(text: str | None) -> str | None:
    """*text* with every registered secret replaced by a mask."""
    if not text or not _ordered:
        return text
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def forget_all() -> None:
    """Tests only: start from no known secret."""
    with _lock:
        _secrets.clear()
        _ordered.clear()


class ScrubbingFilter(logging.Filter):
    """A handler filter: the record's final message, scrubbed (arguments merged in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


def install_log_filter(logger: logging.Logger | None = None) -> None:
    """Scrub every record that reaches the handlers of *logger* (default: the root)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            handler.addFilter(ScrubbingFilter())
