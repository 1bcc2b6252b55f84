from __future__ import annotations

import pytest

from bridge.latency import LatencySeries, percentile
from bridge.ledger import cut_text
from bridge.playback import PlaybackTracker
from persistence import LatencyStats


def test_position_follows_the_last_echoed_mark() -> None:
    t = PlaybackTracker()
    m1 = t.sent("item1", 1600, now=0.0)  # 200 ms
    m2 = t.sent("item1", 1600, now=0.01)
    assert t.played_ms("item1", now=0.05) == 50  # nothing echoed yet, nothing before it
    assert t.acked(m1, now=0.2)
    assert t.played_ms("item1", now=0.25) == 250
    assert t.played_ms("item1", now=10.0) == 400  # never more than was sent
    assert t.acked(m2, now=0.4)
    assert t.played_ms("item1", now=0.4) == 400
    assert t.pending_marks == 0


def test_an_item_waits_for_the_audio_queued_before_it() -> None:
    t = PlaybackTracker()
    first = t.sent("a", 8000, now=0.0)  # 1 s
    t.sent("b", 800, now=0.1)
    assert t.played_ms("b", now=0.5) == 0  # "a" is still playing
    t.acked(first, now=1.0)
    assert t.played_ms("b", now=1.05) == 50


def test_echoes_after_a_clear_are_ignored() -> None:
    t = PlaybackTracker()
    mark = t.sent("a", 800, now=0.0)
    t.cleared()
    assert not t.acked(mark, now=0.01)
    assert not t.acked("a999", now=0.01)


def test_older_marks_are_implied_by_a_newer_echo() -> None:
    t = PlaybackTracker()
    marks = [t.sent("a", 160, now=0.0) for _ in range(3)]
    t.acked(marks[2], now=0.06)
    assert t.pending_marks == 0
    assert not t.acked(marks[0], now=0.07)


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        (0, ""),
        (500, "Tell me"),
        (1000, "Tell me about"),
        (2000, "Tell me about your last project"),
    ],
)
def test_heard_text_is_cut_on_a_word(heard: int, expected: str) -> None:
    assert cut_text("Tell me about your last project", heard, 2000.0) == expected


def test_percentiles_are_nearest_rank() -> None:
    samples = [float(v) for v in range(1, 11)]
    assert percentile(samples, 50) == 5.0
    assert percentile(samples, 95) == 10.0
    series = LatencySeries()
    assert series.summary() == LatencyStats(n=0)
    for v in (300.0, 100.0, 200.0):
        series.add(v)
    assert series.summary() == LatencyStats(n=3, p50_ms=200.0, p95_ms=300.0, max_ms=300.0)
    with pytest.raises(ValueError):
        percentile([], 50)
