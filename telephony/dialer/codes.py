"""The 6-digit interview code a candidate calling in gives, keyed or spoken. Pure."""

from __future__ import annotations

import re
from typing import Final

CODE_DIGITS: Final = 6
TRIES: Final = 3
_WORDS: Final = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "to": "2", "too": "2",
    "three": "3", "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9",
}  # fmt: skip


def code_from(digits: str, speech: str) -> str | None:
    """The code from keypad digits, or else from speech ("4 1 5...", "four one five..."),
    or None when neither gives exactly six digits."""
    keyed = re.sub(r"\D", "", digits)
    if len(keyed) == CODE_DIGITS:
        return keyed
    spoken = ""
    for token in re.findall(r"[a-z]+|\d", speech.lower()):
        spoken += token if token.isdigit() else _WORDS.get(token, "")
    return spoken if len(spoken) == CODE_DIGITS else None
