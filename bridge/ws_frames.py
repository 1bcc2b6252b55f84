"""Whole, unfragmented WebSocket text frames (RFC 6455 5.2), built and read by hand.

Call audio is one small text frame per 20 ms each way, so the per-frame cost of a
general WebSocket library (generator parsers, frame objects, state checks) is a large
part of a call's CPU. Both ends use these for that one common shape only and leave
every other frame (control, fragmented, compressed, oversized) to their library.
"""

from __future__ import annotations

import os
from typing import Final

try:
    from websockets.speedups import apply_mask
except ImportError:  # a build of the library without its C extension
    from websockets.utils import apply_mask

FIN_TEXT: Final = 0x81  # FIN set, no RSV bits (nothing compressed), opcode 1 (text)
MASKED: Final = 0x80


def text_frame(payload: bytes, *, masked: bool) -> bytes:
    """One whole text frame; a client's is masked with a fresh unpredictable key, as the
    RFC requires of every client frame, a server's is not masked at all."""
    n = len(payload)
    bit = MASKED if masked else 0
    if n < 126:
        header = bytes((FIN_TEXT, bit | n))
    elif n < 1 << 16:
        header = bytes((FIN_TEXT, bit | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((FIN_TEXT, bit | 127)) + n.to_bytes(8, "big")
    if not masked:
        return header + payload
    mask = os.urandom(4)
    return header + mask + apply_mask(payload, mask)


def frame_extent(buf: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(where the payload starts, where the frame ends) for the frame at `pos`, or None
    while its header is incomplete; any frame shape, so a caller can skip past it."""
    have = len(buf) - pos
    if have < 2:
        return None
    length = buf[pos + 1] & 0x7F
    start = pos + 2
    if length == 126:
        if have < 4:
            return None
        length = int.from_bytes(buf[start : start + 2], "big")
        start += 2
    elif length == 127:
        if have < 10:
            return None
        length = int.from_bytes(buf[start : start + 8], "big")
        start += 8
    if buf[pos + 1] & MASKED:
        start += 4
    return start, start + length


def unmask(buf: bytes | bytearray, start: int, end: int) -> bytes:
    """The payload of a masked frame whose mask is the four bytes before `start`."""
    return apply_mask(buf[start:end], buf[start - 4 : start])
