"""Hand-built and hand-read WebSocket text frames, checked against the library's own
parser and serializer on the other side."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from bridge.ws_frames import frame_extent, text_frame, unmask

SIZES = [0, 125, 126, 65_535, 65_536, 200_000]  # each side of each length encoding


def read_by_library(frame: bytes, side: Side) -> Frame:
    peer = Protocol(side, state=State.OPEN, max_size=None)
    peer.receive_data(frame[:3])  # in pieces, as TCP may deliver it
    peer.receive_data(frame[3:])
    [event] = peer.events_received()
    assert peer.data_to_send() == []  # nothing to complain about: no close frame
    assert isinstance(event, Frame)
    return event


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("masked", [True, False])
def test_a_hand_built_frame_is_one_text_message_to_the_library(size: int, masked: bool) -> None:
    """A server refuses an unmasked client frame and a client a masked server frame, so
    each shape is read by the side that would receive it."""
    text = ("x" * size).encode()
    event = read_by_library(text_frame(text, masked=masked), Side.SERVER if masked else Side.CLIENT)
    assert (event.opcode, event.fin, event.data) == (Opcode.TEXT, True, text)


def test_every_masked_frame_has_a_mask_of_its_own() -> None:
    masks = {text_frame(b"x", masked=True)[2:6] for _ in range(32)}  # 7-bit length: mask at 2
    assert len(masks) == 32


def library_frame(frame: Frame, *, mask: bool) -> bytes:
    return frame.serialize(mask=mask, extensions=[])


@pytest.mark.parametrize("size", SIZES)
def test_a_client_text_frame_is_read_whole(size: int) -> None:
    text = ("é" * (size // 2)).encode()
    wire = b"junk" + library_frame(Frame(Opcode.TEXT, text), mask=True)
    extent = frame_extent(wire, 4)
    assert extent is not None
    start, end = extent
    assert end == len(wire)
    assert unmask(wire, start, end) == text


@pytest.mark.parametrize("size", [5, 200, 70_000])
def test_an_incomplete_header_gives_no_extent_until_it_is_whole(size: int) -> None:
    wire = library_frame(Frame(Opcode.TEXT, b"y" * size), mask=True)
    header = 2 + (0 if size < 126 else 2 if size < 1 << 16 else 8) + 4
    for cut in range(header - 4):  # the length must be whole; the mask is counted, not read
        assert frame_extent(wire[:cut], 0) is None
    assert frame_extent(wire[: header - 4], 0) == (header, header + size)


@pytest.mark.parametrize(
    "frame",
    [
        Frame(Opcode.TEXT, b"part", fin=False),  # the start of a fragmented message
        Frame(Opcode.CONT, b"rest"),
        Frame(Opcode.BINARY, b"\x00\x01"),
        Frame(Opcode.PING, b"p"),
        Frame(Opcode.CLOSE, b"\x03\xe8"),
    ],
    ids=["first-fragment", "continuation", "binary", "ping", "close"],
)
@pytest.mark.parametrize("mask", [True, False])
def test_every_frame_is_measured_whole_whatever_its_shape(frame: Frame, mask: bool) -> None:
    """So a frame left to the library is handed over whole, never cut or misread."""
    wire = b"x" + library_frame(frame, mask=mask)
    assert frame_extent(wire, 1) == (len(wire) - len(frame.data), len(wire))
