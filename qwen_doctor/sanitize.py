"""Foreign text made safe to print: the one place control characters and escape sequences are neutralised.

Strings the doctor did not write (file contents and names, server responses, process command lines, config
values) may hold terminal escape sequences (ESC [ ... , OSC 8 hyperlinks, window-title writes), C1 controls
(U+009B is a one-byte CSI on some terminals), bidirectional overrides ("Trojan Source"), carriage returns that
rewrite a line, and newlines that would start a fake report line. :func:`printable` writes each such
character as a visible backslash escape (``\\x1b``, ``\\n``, ``\\u202e``); everything else is left as it is.
Undecodable bytes of a file name (lone surrogates from ``surrogateescape``) become ``\\xNN`` too, so the
text always encodes.

The text and markdown renderers apply it to every foreign string they print, and the CLI to every error
message; JSON needs nothing (``json.dumps`` escapes controls), JUnit XML drops what XML 1.0 forbids
(:func:`xml_safe`).
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, line/paragraph separators, bidi embeddings/overrides/isolates, lone surrogates
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_KEEP_NL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# what XML 1.0 does not allow in a document at all (not even as a character reference)
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escape(m: re.Match) -> str:
    ch = m.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    n = ord(ch)
    if 0xDC80 <= n <= 0xDCFF:  # a byte surrogateescape could not decode
        return f"\\x{n - 0xDC00:02x}"
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character, escape sequence introducer, bidi override and undecodable byte
    written as a backslash escape. ``keep_newlines``: leave ``\\n`` (for multi-line blocks the caller indents or
    fences itself)."""
    s = text if isinstance(text, str) else str(text)
    return (_UNSAFE_KEEP_NL if keep_newlines else _UNSAFE).sub(_escape, s)


def xml_safe(text: object) -> str:
    """``text`` with the characters XML 1.0 forbids written as backslash escapes, and the other controls too
    (a JUnit report is often shown in a terminal)."""
    return printable(_XML_FORBIDDEN.sub(_escape, str(text)), keep_newlines=True)


__all__ = ["printable", "xml_safe"]
