"""The per-worker call cap: counting streams and deciding whether one more call fits."""

from __future__ import annotations

import pytest

from service.capacity import CallCapacity
from service.services import Services
from service.settings import Settings


def test_counts_streams_opened_and_closed() -> None:
    capacity = CallCapacity(3)
    assert capacity.live == 0 and capacity.limit == 3
    capacity.stream_opened()
    capacity.stream_opened()
    assert capacity.live == 2
    capacity.stream_closed()
    assert capacity.live == 1


def test_room_until_the_limit_is_reached() -> None:
    capacity = CallCapacity(2)
    assert capacity.has_room()
    capacity.stream_opened()
    assert capacity.has_room()
    capacity.stream_opened()
    assert not capacity.has_room()
    capacity.stream_closed()
    assert capacity.has_room()


def test_reserved_calls_take_slots() -> None:
    capacity = CallCapacity(3)
    capacity.stream_opened()
    assert capacity.has_room(reserved=1)
    assert not capacity.has_room(reserved=2)
    assert not capacity.has_room(reserved=5)


def test_streams_over_the_limit_are_still_counted() -> None:
    # A stream whose webhook another worker answered is accepted even when this one is full.
    capacity = CallCapacity(1)
    capacity.stream_opened()
    capacity.stream_opened()
    assert capacity.live == 2
    capacity.stream_closed()
    assert not capacity.has_room()
    capacity.stream_closed()
    assert capacity.has_room()


def test_close_never_goes_below_zero() -> None:
    capacity = CallCapacity(1)
    capacity.stream_closed()
    capacity.stream_closed()
    assert capacity.live == 0
    capacity.stream_opened()
    assert capacity.live == 1 and not capacity.has_room()


def test_limit_zero_means_no_cap() -> None:
    capacity = CallCapacity(0)
    for _ in range(1000):
        capacity.stream_opened()
    assert capacity.has_room() and capacity.has_room(reserved=10_000)


def test_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="0 \\(no cap\\) or more"):
        CallCapacity(-1)


def test_services_take_the_limit_from_the_settings() -> None:
    assert Services(Settings(max_calls_per_worker=7)).admission.capacity.limit == 7
    assert Services(Settings()).admission.capacity.limit == 80  # pcm16's
    assert Services(Settings(audio_format="pcmu")).admission.capacity.limit == 120
