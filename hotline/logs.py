"""Log lines that cannot be forged: text from outside is written with its control characters
escaped, so a user name or a path holding a newline cannot start a line of its own."""

from __future__ import annotations

import logging
import sys

# C0 and C1 controls (newline, carriage return, escape, ...), DEL, the Unicode line and paragraph
# separators (which many viewers break lines at) and the bidirectional overrides (which make a
# line read differently from what it holds).
_UNPRINTABLE = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F),
                *range(0x2066, 0x206A)]
_ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _UNPRINTABLE}


def printable(text: str) -> str:
    """`text` on one line, its control characters written as `\\xNN` / `\\uNNNN`."""
    return text.translate(_ESCAPES)


class OneLineFormatter(logging.Formatter):
    """Escapes control characters in every message, whatever logger wrote it; only a traceback
    (which the formatter adds itself) spans several lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(logging.makeLogRecord(record.__dict__ | {"message": printable(record.message)}))


def log_to_stderr(level: int | str) -> None:
    """Send every log line of this process to stderr, one line each (the CLI, worker processes)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
