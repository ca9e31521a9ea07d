"""Untrusted text → inert Rich ``Text``.

Log bodies, span names and attribute keys are attacker-controlled. They only ever reach
the terminal as ``Text`` built from plain strings (never parsed as markup, never through
``Text.from_ansi``), after C0/C1 control characters — ESC above all — are replaced by
visible escapes, so ``\\x1b[2J`` prints as the characters ``\\x1b[2J`` and clears nothing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.style import Style
    from rich.text import Text

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape_char(m: re.Match[str]) -> str:
    c = m.group(0)
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object, *, keep_newlines: bool = False) -> str:
    """Plain string with control characters (and, unless kept, newlines/tabs) made visible."""
    text = "" if value is None else str(value)
    if not keep_newlines:
        text = text.replace("\r\n", "⏎").replace("\n", "⏎").replace("\t", " ")
    return _CONTROL.sub(_escape_char, text)


def safe_text(value: object, style: str | Style = "", *, keep_newlines: bool = False) -> Text:
    """A Rich ``Text`` that displays ``value`` literally: no markup, no escape sequences."""
    from rich.text import Text

    return Text(clean(value, keep_newlines=keep_newlines), style=style)
