"""Agency-supplied text made safe to print on an operator's terminal.

A lead's summary, a source, a file name or a reason comes from agencies. Printed raw,
``\\x1b]0;…\\x07`` retitles the window, ``\\x1b[2J`` clears the screen, a carriage return
overwrites what was printed, and a right-to-left override reorders what follows. Here
escape sequences (CSI, OSC, other ESC sequences) are removed, then every remaining
control or format character (Unicode categories Cc and Cf: C0, DEL, C1, bidirectional
overrides, zero-width characters) becomes a visible ``\\u…`` escape, except that a tab
becomes a space; line breaks are kept only with ``keep_newlines``.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["printable"]

_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: ESC [ parameters intermediates final
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: ESC ] … BEL or ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC … ST
    r"|\x1b[ -/]*[0-~]?"  # any other ESC sequence (or a lone ESC)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` without escape sequences, its control and format characters shown as ``\\u…`` escapes."""
    text = _ESCAPE_SEQUENCE.sub("", text)
    if text.isascii() and text.isprintable():
        return text
    return "".join(_shown(char, keep_newlines) for char in text)


def _shown(char: str, keep_newlines: bool) -> str:
    if char == "\n" and keep_newlines:
        return char
    if char == "\t":
        return " "
    if unicodedata.category(char) in ("Cc", "Cf"):
        return f"\\u{ord(char):04x}"
    return char
