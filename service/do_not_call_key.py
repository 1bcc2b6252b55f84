"""The key of the do-not-call list's number hashes (DO_NOT_CALL_KEY): the setting when
given, otherwise one made once and kept in DATA_DIR, so `./dev serve` needs nothing.

Changing the key forgets the list: every stored hash was made under the old one.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

from service.settings import ConfigError, Settings

KEY_FILE = "do-not-call.key"
_SHAPE = re.compile(r"\S{32,}")


def do_not_call_key(settings: Settings) -> bytes:
    """The key's bytes; a missing key file is created (readable by its owner only), and
    a damaged one stops start-up rather than silently starting a new, empty list."""
    if settings.do_not_call_key is not None:
        return settings.do_not_call_key.reveal().encode()
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        _create(path)
    text = path.read_text(encoding="utf-8").strip()
    if not _SHAPE.fullmatch(text):
        raise ConfigError(
            [
                f"{path}: the do-not-call key file must hold at least 32 characters without "
                "whitespace; restore it, or set DO_NOT_CALL_KEY"
            ]
        )
    return text.encode()


def _create(path: Path) -> None:
    """Written whole under a temporary name, then linked into place: workers starting
    together on one DATA_DIR all read the first one's complete key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
